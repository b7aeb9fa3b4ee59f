"""Checks users see next to the assets in the Dagster UI: the data's quality, and whether each
GRPO stage had a learning signal (blocking: a stage that learned nothing stops its run)."""


import json
import math

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from assets.datasets import pretext_samples
from assets.ingestion import frame_cache, video_catalog, video_sources
from assets.resources import ArtifactStoreResource
from viss_r1.artifacts import ArtifactRef
from viss_r1.data.frame_cache import INDEX_FILE, open_frame_cache
from viss_r1.pretext.transforms import design_distribution
from viss_r1.stages import StageSpec
from viss_r1.train.config import RESULT_FILE
from viss_r1.train.learning_signal import DEFAULT_MAX_FRACTION_WITHOUT_SIGNAL, result_learning_signal
from viss_r1.video.sampling import FrameSampling, sample_frame_indices

# A letter count is "near its design" within this many binomial standard deviations (+1 for
# tiny samples); a broken sampler misses by far more, honest noise almost never does.
TOLERANCE_SIGMAS = 4.0


# Clips decoded again per check: enough to catch a sampler that drifted from its rule, cheap on
# the 7B recipe's frames too (a few seconds).
DECODED_SAMPLE = 32
FRAME_CACHE = frame_cache.key   # the check's input of that name is the artifact, not the asset


@dg.asset_check(asset=frame_cache, blocking=True, additional_ins={"video_catalog": dg.AssetIn("video_catalog")},
                description="every cached clip holds the frames the sampling rule picks from the catalog's probe "
                            f"(counted for every clip; for {DECODED_SAMPLE} clips decoded again, with their indices)")
def frame_count_matches_sampling(context: dg.AssetCheckExecutionContext, frame_cache: ArtifactRef,
                                 video_catalog: ArtifactRef, artifact_store: ArtifactStoreResource
                                 ) -> dg.AssetCheckResult:
    # The rule is recomputed here from the catalog's probe (frame count, fps) and the sampling the
    # cache reported, not read from the cache's own expected column; a sample is decoded again.
    event = context.instance.get_latest_materialization_event(FRAME_CACHE)
    sampling = FrameSampling(**event.asset_materialization.metadata["sampling"].value)
    probe = {row["fingerprint"]: row for row in pl.read_parquet(
        artifact_store.local_path(video_catalog) / "catalog.parquet").filter(pl.col("status") == "ok").to_dicts()}
    folder = artifact_store.local_path(frame_cache)
    index = pl.read_parquet(folder / INDEX_FILE)
    wrong = []
    for row in index.to_dicts():
        expected = sampled_indices(probe.get(row["fingerprint"]), sampling)
        if expected is None or row["num_frames"] != len(expected):
            wrong.append({"fingerprint": row["fingerprint"], "cached_frames": row["num_frames"],
                          "rule_frames": None if expected is None else len(expected)})
    reader = open_frame_cache(artifact_store.store(), folder)
    fingerprints = sorted(reader.fingerprints())
    picked = [fingerprints[i] for i in np.random.default_rng(0).permutation(len(fingerprints))[:DECODED_SAMPLE]]
    for fingerprint in picked:
        clip, expected = reader.load(fingerprint), sampled_indices(probe.get(fingerprint), sampling)
        if expected is None or len(clip.frames) != len(expected) or not np.array_equal(clip.frame_indices, expected):
            wrong.append({"fingerprint": fingerprint, "decoded_frames": len(clip.frames),
                          "indices": clip.frame_indices.tolist(),
                          "rule_indices": None if expected is None else expected.tolist()})
    return dg.AssetCheckResult(
        passed=not wrong, severity=dg.AssetCheckSeverity.ERROR,
        description=None if not wrong else f"{len(wrong)} clips do not hold the frames the sampling rule gives them "
                                           "(examples in the metadata): rebuild the frame cache",
        metadata={"clips": len(index), "decoded_again": len(picked), "wrong": len(wrong),
                  "examples": dg.MetadataValue.json(wrong[:5])},
    )


def sampled_indices(probe: dict | None, sampling: FrameSampling) -> np.ndarray | None:
    """The frame indices the rule picks for a catalog row (an image: its one frame); None for a clip
    the catalog does not list as usable or the rule refuses."""
    if probe is None:
        return None
    if probe["data_type"] == "image":
        return np.zeros(1, dtype=np.int64)
    try:
        return sample_frame_indices(probe["frame_count"], probe["fps"], sampling)[0]
    except ValueError:
        return None


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


@dg.asset_check(asset=pretext_samples, blocking=True,
                description="each transform's letters follow its designed distribution")
def transform_labels_follow_design(
    pretext_samples: ArtifactRef, artifact_store: ArtifactStoreResource
) -> dg.AssetCheckResult:
    folder = artifact_store.local_path(pretext_samples)
    balance = json.loads((folder / "label_balance.json").read_text())
    settings = json.loads((folder / "settings.json").read_text())
    off = label_deviations(balance, settings["arrow_reverse_prob"])
    return dg.AssetCheckResult(passed=not off, severity=dg.AssetCheckSeverity.ERROR,
                               description=None if not off else f"{len(off)} transform letters are off their designed "
                               f"share by more than {TOLERANCE_SIGMAS:g} standard deviations: the sampler is broken",
                               metadata={"label_balance": dg.MetadataValue.json(balance),
                                                         "deviations": dg.MetadataValue.json(off)})



QUARANTINE = "quarantine_policy"   # the resource key of QuarantinePolicy


class QuarantinePolicy(dg.ConfigurableResource):
    """How much of an annotation source may be quarantined (bad records, unusable media) before its
    check warns, and before it fails the run. Set in the Definitions or per run:
    ``resources: {quarantine_policy: {config: {fail_above: 0.8}}}``."""

    warn_above: float = Field(default=0.05, ge=0.0, le=1.0,
                              description="a source with more of its records or files quarantined warns")
    fail_above: float = Field(default=0.5, ge=0.0, le=1.0,
                              description="a source with more quarantined fails its check and stops the run")


def quarantine_result(counts: pl.DataFrame, what: str, policy: QuarantinePolicy) -> dg.AssetCheckResult:
    """The check of per-source counts (columns ``source``, ``total``, ``quarantined``) against ``policy``."""
    table = counts.with_columns(fraction=pl.col("quarantined") / pl.col("total")).sort("source")
    failing = table.filter(pl.col("fraction") > policy.fail_above)
    warning = table.filter(pl.col("fraction") > policy.warn_above)
    worst = failing if not failing.is_empty() else warning

    def says(rows: pl.DataFrame) -> str:
        return "; ".join(f"{r['source']}: {r['quarantined']} of {r['total']} {what} ({r['fraction']:.0%})"
                         for r in rows.to_dicts())

    if worst.is_empty():
        description = f"every source within {policy.warn_above:.0%} quarantined {what}"
    else:
        limit = policy.fail_above if not failing.is_empty() else policy.warn_above
        description = (f"quarantined {what} above {limit:.0%}: {says(worst)}. The reasons are in the asset's "
                       f"quarantine table; the limits are resources.{QUARANTINE}.config.warn_above/fail_above")
    return dg.AssetCheckResult(
        passed=worst.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR if not failing.is_empty() else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={"sources": dg.MetadataValue.json(table.to_dicts()),
                  "warn_above": dg.MetadataValue.float(policy.warn_above),
                  "fail_above": dg.MetadataValue.float(policy.fail_above)},
    )


@dg.asset_check(asset=video_sources, name="quarantined_records_within_limits", blocking=True,
                description="per annotation source, the share of records quarantined stays within the policy")
def quarantined_records_within_limits(video_sources: ArtifactRef, artifact_store: ArtifactStoreResource,
                                      quarantine_policy: QuarantinePolicy) -> dg.AssetCheckResult:
    folder = artifact_store.local_path(video_sources)
    kept = pl.read_parquet(folder / "records.parquet").group_by("source").len("kept")
    bad = pl.read_parquet(folder / "quarantine.parquet").group_by("source").len("quarantined")
    counts = (kept.join(bad, on="source", how="full", coalesce=True).fill_null(0)
              .with_columns(total=pl.col("kept") + pl.col("quarantined")))
    return quarantine_result(counts, "records", quarantine_policy)


@dg.asset_check(asset=video_catalog, name="quarantined_media_within_limits", blocking=True,
                additional_ins={"video_sources": dg.AssetIn("video_sources")},
                description="per annotation source, the share of its media files quarantined stays within the policy")
def quarantined_media_within_limits(video_catalog: ArtifactRef, video_sources: ArtifactRef,
                                    artifact_store: ArtifactStoreResource,
                                    quarantine_policy: QuarantinePolicy) -> dg.AssetCheckResult:
    files = (pl.read_parquet(artifact_store.local_path(video_sources) / "records.parquet")
             .select("source", "media_root", "path").unique())
    catalog = pl.read_parquet(artifact_store.local_path(video_catalog) / "catalog.parquet")
    counts = (files.join(catalog.select("media_root", "path", "status"), on=["media_root", "path"], how="left")
              .group_by("source").agg(total=pl.len(), quarantined=(pl.col("status") != "ok").fill_null(True).sum()))
    return quarantine_result(counts, "media files", quarantine_policy)


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


EVALUATION = "evaluation_policy"   # the resource key of EvaluationPolicy


class EvaluationPolicy(dg.ConfigurableResource):
    """How many samples of an evaluation may go unscored before its check fails the run (and the
    leaderboard is not made from it). Set in the Definitions or per run:
    ``resources: {evaluation_policy: {config: {max_missing_fraction: 0.1}}}``."""

    max_failed_fraction: float = Field(default=0.05, ge=0.0, le=1.0,
                                       description="per condition, the largest share of samples whose asking failed")
    max_missing_fraction: float = Field(default=0.05, ge=0.0, le=1.0,
                                        description="per condition, the largest share of samples without their media")


def unscored(scores: dict, policy: EvaluationPolicy) -> tuple[list[dict], list[str]]:
    """Per condition of an evaluation's ``scores.json``: its counts and shares, and what is over ``policy``."""
    rows, over = [], []
    for condition, counts in sorted(scores["conditions"].items()):
        samples = max(counts["samples"], 1)
        row = {"condition": condition, "samples": counts["samples"], "failed": counts["failed"],
               "missing": counts["missing"], "failed_fraction": counts["failed"] / samples,
               "missing_fraction": counts["missing"] / samples}
        rows.append(row)
        for kind, limit in (("failed", policy.max_failed_fraction), ("missing", policy.max_missing_fraction)):
            if row[f"{kind}_fraction"] > limit:
                over.append(f"{condition}: {counts[kind]} of {counts['samples']} samples {kind} "
                            f"({row[f'{kind}_fraction']:.0%} > {limit:.0%})")
    return rows, over


def evaluation_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    """The blocking check of one evaluation asset: failed and missing samples within the policy."""

    @dg.asset_check(asset=key, name="samples_scored", blocking=True,
                    description="under every condition, failed and missing samples stay within the evaluation policy")
    def _check(evaluation: ArtifactRef | None, artifact_store: ArtifactStoreResource,
               evaluation_policy: EvaluationPolicy) -> dg.AssetCheckResult:
        if evaluation is None:   # a benchmark without an eval file: nothing was asked
            return dg.AssetCheckResult(passed=True, description="not evaluated: the benchmark has no eval file")
        scores = json.loads((artifact_store.local_path(evaluation) / "scores.json").read_text())
        rows, over = unscored(scores, evaluation_policy)
        return dg.AssetCheckResult(
            passed=not over, severity=dg.AssetCheckSeverity.ERROR,
            description=(f"{key.to_user_string()}: " + "; ".join(over) + ". The failed samples are the results' "
                         "failed rows (a rerun asks them again); missing ones have no media in the frame cache; "
                         f"the limits are resources.{EVALUATION}.config") if over else "every condition within limits",
            metadata={"conditions": dg.MetadataValue.json(rows)})

    return _check


def evaluation_checks(keys: list[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    return [evaluation_check(key) for key in keys]
