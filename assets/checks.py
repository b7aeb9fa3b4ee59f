"""Data-quality checks users see next to the assets in the Dagster UI."""


import json
import math

import dagster as dg
import polars as pl

from assets.datasets import pretext_samples
from assets.ingestion import frame_cache
from assets.resources import ArtifactStoreResource
from viss_r1.artifacts import ArtifactRef
from viss_r1.data.frame_cache import INDEX_FILE
from viss_r1.pretext.transforms import design_distribution

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

