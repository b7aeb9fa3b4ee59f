"""The one Definitions object: assets, checks, jobs and the resources for this environment,
generated for the arms of ``viss_r1.stages.ARMS``."""

from __future__ import annotations

import os

import dagster as dg

from assets import annotation, checks, datasets, evaluation, ingestion, models
from assets.checks import (EVALUATION, LEARNING_SIGNAL, QUARANTINE, EvaluationPolicy, LearningSignalPolicy,
                           QuarantinePolicy, evaluation_checks, learning_signal_checks)
from assets.comparison import arm_comparison_spec
from assets.launcher import StageLauncher
from assets.resources import ArtifactStoreResource, MlflowTracking, state_dir
from assets.retries import StageRetries
from assets.training import training_assets
from pipelines.console import CONSOLE_LOGGERS
from pipelines.jobs import jobs
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.stages import ARMS, Arm, scored_models, stages_of
from viss_r1.tracking import default_tracking_uri


def resources() -> dict:
    """Local defaults under the state folder; environment variables switch to shared services
    (an fsspec URL for artifacts, an MLflow tracking server)."""
    state = state_dir()
    return {
        "artifact_store": ArtifactStoreResource(
            root=os.environ.get("VISS_R1_ARTIFACT_ROOT", os.path.join(state, "artifacts"))),
        "mlflow_tracking": MlflowTracking(tracking_uri=default_tracking_uri(state)),
        "stage_launcher": StageLauncher(),
        LEARNING_SIGNAL: LearningSignalPolicy(),
        QUARANTINE: QuarantinePolicy(),
        EVALUATION: EvaluationPolicy(),
    }


def all_assets(arms: dict[str, Arm] = ARMS, retries: StageRetries | None = None) -> list:
    """Every asset of ``arms``: the data plane and base model, each stage's training asset, each
    scored model's evaluations, the leaderboard over them, and the arms' comparison (reported by
    benchmarks/compare_arms.py, not built by a job). Training and evaluation retry as ``retries``
    says (default: from the environment, ``assets/retries.py``)."""
    stages, scored = stages_of(arms), scored_models(arms)
    policy = (retries or StageRetries.from_env()).policy()
    return [*dg.load_assets_from_modules([ingestion, datasets, annotation, models, evaluation]),
            *training_assets(stages, policy), *evaluation.evaluation_assets(scored, stages, policy),
            evaluation.leaderboard_asset(scored), arm_comparison_spec(arms)]


def definitions(arms: dict[str, Arm] = ARMS, retries: StageRetries | None = None) -> dg.Definitions:
    """Assets, checks and jobs of ``arms``: ``all_assets``, the data checks, each GRPO stage's
    learning-signal check and each evaluation's check, and one job per arm."""
    evaluations = [evaluation.eval_asset_key(model, spec.name) for model in scored_models(arms)
                   for spec in BENCHMARKS.values()]
    return dg.Definitions(
        assets=all_assets(arms, retries),
        asset_checks=[*dg.load_asset_checks_from_modules([checks]), *learning_signal_checks(stages_of(arms)),
                      *evaluation_checks(evaluations)],
        jobs=jobs(arms),
        sensors=[leaderboard_refresh],
        resources=resources(),
        loggers=CONSOLE_LOGGERS,
    )


# Evaluates the leaderboard's automation condition (assets/evaluation.py) while `dagster dev` (its
# daemon) runs: on by default, unlike Dagster's default automation sensor.
leaderboard_refresh = dg.AutomationConditionSensorDefinition(
    "leaderboard_refresh", target=dg.AssetSelection.assets("leaderboard"), default_status=dg.DefaultSensorStatus.RUNNING,
    description="materializes the leaderboard after any evaluation it reads is materialized")


defs = definitions()
