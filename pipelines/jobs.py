"""Jobs are asset selections. Steps run in one process by default: each Dagster step process
would pay the imports again (≈2.5 s a step), and the heavy work already runs in worker
processes it starts itself."""

from __future__ import annotations

import dagster as dg

DATA_PLANE = dg.AssetSelection.assets("video_sources", "video_catalog", "frame_cache", "pretext_samples")
VISS_R1_ARM = dg.AssetSelection.assets("base_model", "sft_model")

full_viss_r1 = dg.define_asset_job(
    "full_viss_r1",
    selection=DATA_PLANE | VISS_R1_ARM,
    executor_def=dg.in_process_executor,
    description="Everything ViSS-R1 needs, from annotations to trained model, evaluation and leaderboard.",
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

JOBS = [full_viss_r1, ingest, annotate_cot]
