"""Checks users see next to the assets in the Dagster UI: the data's quality, and whether each
GRPO stage had a learning signal (blocking: a stage that learned nothing stops its run)."""


import json
import math

import dagster as dg
import polars as pl
from pydantic import Field

from assets.datasets import pretext_samples
from assets.ingestion import frame_cache
from assets.resources import ArtifactStoreResource
from viss_r1.artifacts import ArtifactRef
from viss_r1.data.frame_cache import INDEX_FILE
from viss_r1.pretext.transforms import design_distribution
from viss_r1.stages import StageSpec
from viss_r1.train.config import RESULT_FILE
from viss_r1.train.learning_signal import DEFAULT_MAX_FRACTION_WITHOUT_SIGNAL, result_learning_signal

# A letter count is "near its design" within this many binomial standard deviations (+1 for
# tiny samples); a broken sampler misses by far more, honest noise almost never does.
TOLERANCE_SIGMAS = 4.0


@dg.asset_check(asset=frame_cache, description="every cached clip has the frame count the sampling rule gives it")
def frame_count_matches_sampling(frame_cache: ArtifactRef, artifact_store: ArtifactStoreResource) -> dg.AssetCheckResult:
    index = pl.read_parquet(artifact_store.local_path(frame_cache) / INDEX_FILE)
    wrong = index.filter(pl.col("num_frames") != pl.col("expected_frames"))
    return dg.AssetCheckResult(
        passed=wrong.is_empty(),
        metadata={"clips": len(index), "wrong_frame_count": len(wrong),
                  "examples": dg.MetadataValue.json(wrong.head(5).to_dicts())},
    )


def label_deviations(balance: dict[str, dict[str, dict[str, int]]], arrow_reverse_prob: float) -> list[dict]:
    """Rows (use, transform, letter, observed, expected, allowed) for counts off their design."""
    off = []
    for use, transforms in balance.items():
        for key, counts in transforms.items():
            media, name = key.split("/")
            design = design_distribution(media, name, arrow_reverse_prob)
            total = sum(counts.values())
            for letter, p in design.items():
                expected = total * p
                allowed = TOLERANCE_SIGMAS * math.sqrt(total * p * (1 - p)) + 1
                observed = counts.get(letter, 0)
                if abs(observed - expected) > allowed:
                    off.append({"use": use, "transform": key, "letter": letter, "observed": observed,
                                "expected": round(expected, 1), "allowed": round(allowed, 1)})
            unexpected = set(counts) - set(design)
            off += [{"use": use, "transform": key, "letter": u, "observed": counts[u], "expected": 0, "allowed": 0}
                    for u in sorted(unexpected)]
    return off


@dg.asset_check(asset=pretext_samples, description="each transform's letters follow its designed distribution")
def transform_labels_follow_design(
    pretext_samples: ArtifactRef, artifact_store: ArtifactStoreResource
) -> dg.AssetCheckResult:
    folder = artifact_store.local_path(pretext_samples)
    balance = json.loads((folder / "label_balance.json").read_text())
    settings = json.loads((folder / "settings.json").read_text())
    off = label_deviations(balance, settings["arrow_reverse_prob"])
    return dg.AssetCheckResult(passed=not off, metadata={"label_balance": dg.MetadataValue.json(balance),
                                                         "deviations": dg.MetadataValue.json(off)})



LEARNING_SIGNAL = "learning_signal"   # the resource key of LearningSignalPolicy


class LearningSignalPolicy(dg.ConfigurableResource):
    """How much of a GRPO stage may go without a learning signal before its check fails the run.
    Set in the Definitions (``pipelines/definitions.py``) or per run:
    ``resources: {learning_signal: {config: {max_fraction_without_signal: 0.8}}}``."""

    max_fraction_without_signal: float = Field(
        default=DEFAULT_MAX_FRACTION_WITHOUT_SIGNAL, ge=0.0, le=1.0,
        description="the largest share of a GRPO stage's logged steps on which every group may have zero reward "
                    "spread (no gradient); 1 never fails a stage")


def learning_signal_check(stage: StageSpec) -> dg.AssetChecksDefinition:
    """The blocking check of a GRPO stage's model: most of its steps without reward spread in any
    group fails it, so the models and scores made from it in the same run are not made."""

    @dg.asset_check(asset=stage.model, name="grpo_has_learning_signal", blocking=True,
                    description=f"GRPO stage {stage.name}: most steps had some reward spread (a learning signal)")
    def _check(model: ArtifactRef, artifact_store: ArtifactStoreResource,
               learning_signal: LearningSignalPolicy) -> dg.AssetCheckResult:
        # The artifact, not the run's events: a model reused from the cache is judged the same way.
        result = json.loads((artifact_store.local_path(model) / RESULT_FILE).read_text())
        signal = result_learning_signal(result)
        threshold = learning_signal.max_fraction_without_signal
        if signal is None or signal.steps == 0:
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.WARN,
                description=f"GRPO stage {stage.name!r}: its {RESULT_FILE} (artifact {model.key}) has no logged "
                            "step with the groups' reward spread, so whether it had a learning signal is unknown: "
                            "rematerialize a model built before the curve was kept, or log at least one step "
                            "(training.logging_steps ≤ max_steps)",
                metadata={"steps": 0, "threshold": threshold})
        lacking = signal.lacking(threshold)
        # The step's error names only the check; the run's log shows this description beside it.
        message = signal.explain(stage.name, threshold) + (
            f" The allowed share is resources.{LEARNING_SIGNAL}.config.max_fraction_without_signal." if lacking else "")
        return dg.AssetCheckResult(
            passed=not lacking, severity=dg.AssetCheckSeverity.ERROR, description=message,
            metadata={"steps": signal.steps, "steps_without_signal": signal.steps_without_signal,
                      "fraction_without_signal": dg.MetadataValue.float(signal.fraction_without_signal),
                      "threshold": dg.MetadataValue.float(threshold),
                      "mean_reward": dg.MetadataValue.float(signal.mean_reward)
                      if signal.mean_reward is not None else dg.MetadataValue.null()})

    return _check


def learning_signal_checks(stages: dict[str, StageSpec]) -> list[dg.AssetChecksDefinition]:
    """One learning-signal check per GRPO stage of ``stages`` (an SFT stage has no rewards)."""
    return [learning_signal_check(stage) for stage in stages.values() if stage.trainer == "grpo"]
