"""Jobs are asset selections. Steps run in one process by default: each Dagster step process
would pay the imports again (≈2.5 s a step), and the heavy work already runs in worker
processes it starts itself."""

from __future__ import annotations

import dagster as dg

DATA_PLANE = dg.AssetSelection.assets("video_sources", "video_catalog", "frame_cache", "pretext_samples")
VISS_R1_ARM = dg.AssetSelection.assets("base_model", "sft_model", "viss_r1_model")
PRETEXT_GRPO_ARM = dg.AssetSelection.assets("base_model", "pretext_grpo_model", "pretext_grpo_stage2_model")
VIDEO_R1_ARM = dg.AssetSelection.assets("base_model", "cot_sft_model", "grpo_baseline_model")

full_viss_r1 = dg.define_asset_job(
    "full_viss_r1",
    selection=DATA_PLANE | VISS_R1_ARM,
    executor_def=dg.in_process_executor,
    description="Everything ViSS-R1 needs, from annotations to trained model, evaluation and leaderboard.",
)

pretext_grpo = dg.define_asset_job(
    "pretext_grpo",
    selection=DATA_PLANE | PRETEXT_GRPO_ARM,
    executor_def=dg.in_process_executor,
    description="The Pretext-GRPO arm: base model → pretext-only GRPO (stage I) → ordinary GRPO (stage II).",
)

video_r1_baseline = dg.define_asset_job(
    "video_r1_baseline",
    selection=DATA_PLANE | VIDEO_R1_ARM,
    executor_def=dg.in_process_executor,
    description="The Video-R1 baseline arm: base model → plain-CoT SFT → GRPO.",
)

ingest = dg.define_asset_job(
    "ingest",
    selection=DATA_PLANE,
    executor_def=dg.in_process_executor,
    description="Annotations → video catalog → frame cache → pretext samples.",
)

annotate_cot = dg.define_asset_job(
    "annotate_cot",
    selection=dg.AssetSelection.assets("cot_annotations"),
    executor_def=dg.in_process_executor,
    description="Re-annotate the SFT samples with transform-aware CoT by an annotator model (needs run config).",
)

JOBS = [full_viss_r1, pretext_grpo, video_r1_baseline, ingest, annotate_cot]
