"""A job around one GRPO stage's learning-signal check, without training: the stage's model asset
is a stand-in that publishes a hand-made ``result.json`` (its per-step zero-spread curve from run
config) the way the real asset does, and the model of the next stage, which starts from it, is a
stand-in that only records that it ran. Loadable by the CLI:
``dagster job execute -m learning_signal_job -j learning_signal`` (tests/ on the Python path)."""

import json

import dagster as dg

from assets.checks import LEARNING_SIGNAL, learning_signal_check
from assets.resources import ArtifactStoreResource
from pipelines.definitions import resources
from viss_r1.artifacts import ArtifactRef, stable_hash
from viss_r1.stages import PRETEXT_GRPO_STAGE1, PRETEXT_GRPO_STAGE2
from viss_r1.train.config import RESULT_FILE
from viss_r1.train.learning_signal import ZERO_SPREAD_RESULT

STAGE, NEXT_STAGE = PRETEXT_GRPO_STAGE1, PRETEXT_GRPO_STAGE2
JOB = "learning_signal"
CHECK_ONLY_JOB = "learning_signal_check_only"   # the check on the model an earlier run published


class HandMadeResult(dg.Config):
    """The stage's curves, one value per logged step (steps 1, 2, …)."""

    zero_spread: list[float]
    rewards: list[float]


def steps(values: list[float]) -> list[list[float]]:
    return [[step, value] for step, value in enumerate(values, start=1)]


@dg.asset(name=STAGE.model)
def stage_model(config: HandMadeResult, artifact_store: ArtifactStoreResource) -> ArtifactRef:
    result = {"stage": STAGE.name, ZERO_SPREAD_RESULT: steps(config.zero_spread), "rewards": steps(config.rewards)}
    key = stable_hash(result)
    store = artifact_store.store()
    if not store.exists(STAGE.model, key):
        with store.writer(STAGE.model, key, summary={}) as folder:
            (folder / RESULT_FILE).write_text(json.dumps(result))
    return store.ref(STAGE.model, key)


@dg.asset(name=NEXT_STAGE.model, ins={"start_model": dg.AssetIn(STAGE.model)})
def next_stage_model(start_model: ArtifactRef) -> str:
    return f"trained from {start_model.key}"


def run_config(zero_spread: list[float], rewards: list[float] | None = None, threshold: float | None = None) -> dict:
    config: dict = {"ops": {STAGE.model: {"config": {"zero_spread": zero_spread,
                                                     "rewards": rewards or [0.0] * len(zero_spread)}}}}
    if threshold is not None:
        config["resources"] = {LEARNING_SIGNAL: {"config": {"max_fraction_without_signal": threshold}}}
    return config


defs = dg.Definitions(
    assets=[stage_model, next_stage_model],
    asset_checks=[learning_signal_check(STAGE)],
    jobs=[dg.define_asset_job(JOB, selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor),
          dg.define_asset_job(CHECK_ONLY_JOB, selection=dg.AssetSelection.checks_for_assets(STAGE.model),
                              executor_def=dg.in_process_executor)],
    resources=resources(),
)
