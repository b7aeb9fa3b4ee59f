"""Datasets: the pretext-sample tables the training stages draw from (viss_r1.data.pretext_samples)."""


import base64
import json
from pathlib import Path

import dagster as dg
import polars as pl

from assets.caching import Building, asset_code_version, build_or_reuse, table_preview, output
from assets.configs import PretextSamplesConfig
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.artifacts import ArtifactRef
from viss_r1.code_versions import code_version
from viss_r1.data.frame_cache import INDEX_FILE, open_frame_cache
from viss_r1.data.frame_strip import frame_strip
from viss_r1.data.loader import load_pretext_clip
from viss_r1.data.pretext_samples import (
    QUESTIONS_TABLE,
    VIDEO_QUESTIONS_TABLE,
    build_use_table,
    label_balance,
    records_with_clips,
)
from viss_r1.data.tables import write_table

GROUP = "datasets"
STRIP_FILE = "frame_strip.png"


@dg.asset(group_name=GROUP, code_version=code_version(
    "viss_r1.data.pretext_samples", "viss_r1.data.tables", "viss_r1.data.frame_strip", "viss_r1.data.loader"))
def pretext_samples(
    context: dg.AssetExecutionContext,
    config: PretextSamplesConfig,
    video_sources: ArtifactRef,
    video_catalog: ArtifactRef,
    frame_cache: ArtifactRef,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
) -> dg.Output[ArtifactRef]:
    """One table per use: record fields + the drawn transform (name, parameter, letter), the
    pretext question and the seed. Deterministic given the seed."""
    settings = config.to_library()
    inputs = {"video_sources": video_sources, "video_catalog": video_catalog, "frame_cache": frame_cache}

    def build(building: Building) -> None:
        folder, summary = building.folder, building.summary
        records = records_with_clips(
            pl.read_parquet(artifact_store.local_path(video_sources) / "records.parquet"),
            pl.read_parquet(artifact_store.local_path(video_catalog) / "catalog.parquet"),
            pl.read_parquet(artifact_store.local_path(frame_cache) / INDEX_FILE),
        )
        usable = records.filter(pl.col("reason").is_null())
        quarantine = [
            {"use": "all", "source": r["source"], "record_index": r["record_index"], "problem_id": r["problem_id"],
             "reason": r["reason"]}
            for r in records.filter(pl.col("reason").is_not_null()).to_dicts()
        ]
        balance = {}
        for use in settings.uses:
            rows, bad = build_use_table(usable.to_dicts(), use, settings)
            write_table(rows, folder / f"{use.name}.parquet", "pretext_samples")
            quarantine += bad
            balance[use.name] = label_balance(rows)
            summary[f"{use.name}_samples"] = len(rows)
            context.log.info(f"{use.name}: {len(rows)} samples, {len(bad)} quarantined")
        write_table(quarantine, folder / "quarantine.parquet", "sample_quarantine")
        (folder / "label_balance.json").write_text(json.dumps(balance, indent=2))
        (folder / "settings.json").write_text(json.dumps(config.model_dump(), indent=2))
        summary.update(records_without_clip=len(records) - len(usable), quarantined=len(quarantine))
        _write_strip(artifact_store, frame_cache, folder)

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                           config=config.model_dump(), inputs=inputs, build=build,
                           log_files=(STRIP_FILE, "label_balance.json"))
    balance = json.loads((built.folder / "label_balance.json").read_text())
    strip = built.folder / STRIP_FILE
    metadata = {
        **{k: v for k, v in built.summary.items() if k.endswith("_samples")},
        "records_without_clip": built.summary["records_without_clip"],
        "quarantined": built.summary["quarantined"],
        "label_balance": dg.MetadataValue.json(balance),
        "frame_strip": dg.MetadataValue.md(
            f"![transformed clips](data:image/png;base64,{base64.b64encode(strip.read_bytes()).decode()})"),
        "frame_strip_path": dg.MetadataValue.path(str(strip)),
    }
    table = built.folder / f"{VIDEO_QUESTIONS_TABLE}.parquet"
    preview = pl.read_parquet(table).select("sample_id", "problem_type", "transform_name", "transform_letter").head(8)
    metadata["preview"] = table_preview(preview)
    return output(built, metadata)


def _write_strip(artifact_store, frame_cache: ArtifactRef, folder: Path, clips: int = 4) -> None:
    """A frame strip of the first few video questions, transformed as the model sees them."""
    table = pl.read_parquet(folder / f"{VIDEO_QUESTIONS_TABLE}.parquet")
    if table.is_empty():
        table = pl.read_parquet(folder / f"{QUESTIONS_TABLE}.parquet")
    reader = open_frame_cache(artifact_store.store(), artifact_store.local_path(frame_cache))
    shown = []
    for row in table.head(clips).to_dicts():
        clip = load_pretext_clip(row, reader)
        shown.append((f"{row['transform_name']} -> {row['transform_letter']}  ({row['path']})", clip.frames))
    frame_strip(shown, folder / STRIP_FILE)
