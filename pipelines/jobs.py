"""Jobs are asset selections: one per arm (``viss_r1.stages.ARMS``: its stages, then its models
scored on every benchmark and the leaderboard), the main job over the paper's two methods
(``viss_r1.stages.FULL_VISS_R1``), plus ingestion, re-annotation and evaluating any checkpoint. Steps run in one process by default: each Dagster step process would pay the imports
again (≈2.5 s a step), and the heavy work already runs in worker processes it starts itself."""

from __future__ import annotations

import dagster as dg

from assets.evaluation import benchmark_asset_name, eval_asset_key
from pipelines.console import CONSOLE_RUN_CONFIG
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.stages import BASE_MODEL, CHECKPOINT, Arm, ArmsJob, arm_jobs

DATA_PLANE = dg.AssetSelection.assets("video_sources", "video_catalog", "frame_cache", "pretext_samples")
# Every benchmark (one without an eval file says so and is skipped), the synthetic one from
# video_sources' eval split.
BENCHMARKS_DATA = dg.AssetSelection.assets("video_sources", *(benchmark_asset_name(s) for s in BENCHMARKS.values()))


def evaluation_of(*models: str) -> dg.AssetSelection:
    """The benchmarks, each model scored on each of them, and the leaderboard."""
    keys = [eval_asset_key(model, spec.name) for model in models for spec in BENCHMARKS.values()]
    return BENCHMARKS_DATA | dg.AssetSelection.assets(*keys, "leaderboard")


def arm_job(job: ArmsJob) -> dg.UnresolvedAssetJobDefinition:
    """The data plane, the base model, the arms' stages in order, their models scored."""
    trained = dg.AssetSelection.assets(BASE_MODEL, *(stage.model for stage in job.stages))
    return dg.define_asset_job(job.name, selection=DATA_PLANE | trained | evaluation_of(*job.scored),
                               executor_def=dg.in_process_executor, description=job.description,
                               config=CONSOLE_RUN_CONFIG)


ingest = dg.define_asset_job(
    "ingest",
    selection=DATA_PLANE,
    executor_def=dg.in_process_executor,
    config=CONSOLE_RUN_CONFIG,
    description="Annotations → video catalog → frame cache → pretext samples.",
)

# The two jobs below need a run config of their own, and Dagster checks a job's default run config
# as a whole, so they cannot default to the readable console: their run config names it
# (``loggers: {console: {}}``, as infra/configs/evaluate_qwen2_5_vl_7b.yaml does).
annotate_cot = dg.define_asset_job(
    "annotate_cot",
    selection=dg.AssetSelection.assets("cot_annotations"),
    executor_def=dg.in_process_executor,
    description="Re-annotate the SFT samples with transform-aware CoT by an annotator model (needs run config).",
)

evaluate = dg.define_asset_job(
    "evaluate",
    selection=dg.AssetSelection.assets(CHECKPOINT) | evaluation_of(CHECKPOINT),
    executor_def=dg.in_process_executor,
    description="Score any checkpoint (ops.checkpoint.config.model: a local folder or hub id) on the "
                "benchmarks that have an eval file, then refresh the leaderboard.",
)


def jobs(arms: dict[str, Arm]) -> list:
    return [*(arm_job(job) for job in arm_jobs(arms)), evaluate, ingest, annotate_cot]
