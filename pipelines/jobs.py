"""Jobs are asset selections. Steps run in one process by default: each Dagster step process
would pay the imports again (≈2.5 s a step), and the heavy work already runs in worker
processes it starts itself."""

from __future__ import annotations

import dagster as dg

from assets.evaluation import benchmark_asset_name, eval_asset_key
from viss_r1.evaluate.benchmarks import BENCHMARKS

DATA_PLANE = dg.AssetSelection.assets("video_sources", "video_catalog", "frame_cache", "pretext_samples")
VISS_R1_ARM = dg.AssetSelection.assets("base_model", "sft_model", "viss_r1_model")
PRETEXT_GRPO_ARM = dg.AssetSelection.assets("base_model", "pretext_grpo_model", "pretext_grpo_stage2_model")
VIDEO_R1_ARM = dg.AssetSelection.assets("base_model", "cot_sft_model", "grpo_baseline_model")
# Every benchmark (one without an eval file says so and is skipped), the synthetic one from
# video_sources' eval split.
BENCHMARKS_DATA = dg.AssetSelection.assets("video_sources", *(benchmark_asset_name(s) for s in BENCHMARKS.values()))


def evaluation_of(*models: str) -> dg.AssetSelection:
    """The benchmarks, each model scored on each of them, and the leaderboard."""
    keys = [eval_asset_key(model, spec.name) for model in models for spec in BENCHMARKS.values()]
    return BENCHMARKS_DATA | dg.AssetSelection.assets(*keys, "leaderboard")


full_viss_r1 = dg.define_asset_job(
    "full_viss_r1",
    selection=DATA_PLANE | VISS_R1_ARM | evaluation_of("base_model", "sft_model", "viss_r1_model"),
    executor_def=dg.in_process_executor,
    description="Everything ViSS-R1 needs, from annotations to trained model, evaluation and leaderboard.",
)

pretext_grpo = dg.define_asset_job(
    "pretext_grpo",
    selection=DATA_PLANE | PRETEXT_GRPO_ARM | evaluation_of("base_model", "pretext_grpo_stage2_model"),
    executor_def=dg.in_process_executor,
    description="The Pretext-GRPO arm: base model → pretext-only GRPO (stage I) → ordinary GRPO (stage II), "
                "evaluated.",
)

video_r1_baseline = dg.define_asset_job(
    "video_r1_baseline",
    selection=DATA_PLANE | VIDEO_R1_ARM | evaluation_of("base_model", "grpo_baseline_model"),
    executor_def=dg.in_process_executor,
    description="The Video-R1 baseline arm: base model → plain-CoT SFT → GRPO, evaluated.",
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

evaluate = dg.define_asset_job(
    "evaluate",
    selection=dg.AssetSelection.assets("checkpoint") | evaluation_of("checkpoint"),
    executor_def=dg.in_process_executor,
    description="Score any checkpoint (ops.checkpoint.config.model: a local folder or hub id) on the "
                "benchmarks that have an eval file, then refresh the leaderboard.",
)

JOBS = [full_viss_r1, pretext_grpo, video_r1_baseline, evaluate, ingest, annotate_cot]
