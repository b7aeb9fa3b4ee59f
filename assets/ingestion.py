"""Ingestion: annotation sources → a probed video catalog → the sharded frame cache.

With no sources configured, ``video_sources`` generates the synthetic set as an artifact of its
own (``SYNTHETIC_ARTIFACT``, through ``build_or_reuse`` like every artifact) and reads it."""

import json
from pathlib import Path

import dagster as dg
import polars as pl

from assets.caching import Building, Built, asset_code_version, build_or_reuse, table_preview, output
from assets.configs import FrameCacheConfig, VideoCatalogConfig, VideoSourcesConfig, check_data_plane_min_frames
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.artifacts import ArtifactRef, artifact_media_root
from viss_r1.code_versions import code_version
from viss_r1.data.frame_cache import FAILURES_FILE, INDEX_FILE, shard_refs
from viss_r1.data.ingest import cache_frames, probe_files, write_frame_index
from viss_r1.data.records import annotation_key, load_annotation_source
from viss_r1.data.tables import catalog_media_digest, write_table
from viss_r1.synthetic import generate_synthetic_dataset
from viss_r1.synthetic.generate import SPLITS

GROUP = "ingestion"
SYNTHETIC_ARTIFACT = "synthetic_videos"   # the store folder of the generated set video_sources reads


@dg.asset(group_name=GROUP, code_version=code_version("viss_r1.data.records", "viss_r1.data.tables", "viss_r1.synthetic",
                                                      packages=("av", "pillow")))
def video_sources(
    context: dg.AssetExecutionContext,
    config: VideoSourcesConfig,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
) -> dg.Output[ArtifactRef]:
    """Video-R1-schema annotation records, validated; bad records quarantined with a reason.
    With no sources configured, the synthetic video QA set is generated (and cached)."""
    sources = [s.model_dump() for s in config.sources]
    extra_key, synthetic_set = {}, None
    store = artifact_store.store()
    if not sources:
        synthetic_set = _synthetic_set(context, artifact_store, config)
        synthetic = synthetic_set.folder
        # Named by its artifact, not its folder: the keys from here on survive a moved store.
        sources = [{"name": split, "annotations": str(synthetic / f"{split}.json"),
                    "media_root": artifact_media_root(synthetic_set.ref), "split": split} for split in SPLITS]
    for source in sources:
        path = Path(source["annotations"])
        if not path.is_file():
            raise dg.Failure(f"annotation source {source['name']!r}: file {path} does not exist "
                             "(set video_sources.config.sources[].annotations)")
        if not Path(store.media_folder(source["media_root"])).is_dir():
            raise dg.Failure(f"annotation source {source['name']!r}: media_root {source['media_root']} is not a folder")
        extra_key[source["name"]] = annotation_key(path, source["media_root"], source["split"])
    if len({s["name"] for s in sources}) != len(sources):
        raise dg.Failure(f"annotation source names must be unique, got {[s['name'] for s in sources]}")

    def build(building: Building) -> None:
        folder, summary = building.folder, building.summary
        records, quarantine = [], []
        for source in sources:
            valid, bad = load_annotation_source(Path(source["annotations"]), source["name"], source["media_root"],
                                                source["split"])
            records += valid
            quarantine += bad
            context.log.info(f"{source['name']}: {len(valid)} valid records, {len(bad)} quarantined")
        write_table(records, folder / "records.parquet", "records")
        write_table(quarantine, folder / "quarantine.parquet", "record_quarantine")
        (folder / "sources.json").write_text(json.dumps(sources, indent=2))
        summary.update(records=len(records), quarantined=len(quarantine))

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                           config=config.model_dump(), inputs={}, build=build, extra_key=extra_key)
    records = pl.read_parquet(built.folder / "records.parquet")
    quarantine = pl.read_parquet(built.folder / "quarantine.parquet")
    return output(built, {
        "dagster/row_count": len(records),
        "records": len(records),
        "quarantined": len(quarantine),
        "by_problem_type": dg.MetadataValue.json(dict(records.group_by("problem_type").len().iter_rows())),
        "preview": table_preview(records.select("source", "problem_id", "problem_type", "path", "solution").head(8)),
        "quarantine_preview": table_preview(quarantine.head(10)),
        **({} if synthetic_set is None else {"synthetic_set": dg.MetadataValue.json(
            {"cache_key": synthetic_set.ref.key, "reused": synthetic_set.reused,
             "clips": synthetic_set.summary["clips"]})}),
    })


def _synthetic_set(context, artifact_store: ArtifactStoreResource, config: VideoSourcesConfig) -> Built:
    """The synthetic set as its own cached artifact (``SYNTHETIC_ARTIFACT``): clips are generated
    once per setting and code version, then reused. Part of this stage, so it has no MLflow run
    of its own; the asset's metadata says whether it was reused. Its folder is the records' media
    root, so the records (and every key downstream) stay the same while it is reused."""

    def build(building: Building) -> None:
        context.log.info(f"generating the synthetic video set ({config.synthetic.num_train} train + "
                         f"{config.synthetic.num_eval} eval clips)")
        dataset = generate_synthetic_dataset(building.folder, config.synthetic.to_library())
        building.summary["clips"] = len(list((dataset.media_root / "videos").glob("*.mp4")))

    return build_or_reuse(context, artifact_store, None, code_version=asset_code_version(context),
                          config=config.synthetic.model_dump(), inputs={}, build=build, artifact=SYNTHETIC_ARTIFACT)


@dg.asset(group_name=GROUP, code_version=code_version("viss_r1.data.ingest", "viss_r1.data.tables",
                                                      packages=("decord", "pillow")))
def video_catalog(
    context: dg.AssetExecutionContext,
    config: VideoCatalogConfig,
    video_sources: ArtifactRef,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
) -> dg.Output[ArtifactRef]:
    """One row per distinct media file, probed with decord; unusable files are quarantined."""
    check_data_plane_min_frames(context.run.run_config)
    records = pl.read_parquet(artifact_store.local_path(video_sources) / "records.parquet")
    media = records.select("media_root", "path", "data_type").unique(maintain_order=True)
    digest = catalog_media_digest(media.to_dicts())  # files edited in place change the key

    def build(building: Building) -> None:
        folder, summary = building.folder, building.summary
        rows = probe_files(media.to_dicts(), config.min_frames, config.workers, context.log.info,
                           timeout_s=config.decode_timeout_s, media_folder=artifact_store.store().media_folder)
        catalog = pl.DataFrame(rows)
        write_table(catalog.to_dicts(), folder / "catalog.parquet", "catalog")
        write_table(catalog.filter(pl.col("status") != "ok").to_dicts(), folder / "quarantine.parquet", "catalog")
        summary.update(files=len(catalog), ok=int((catalog["status"] == "ok").sum()),
                       quarantined=int((catalog["status"] != "ok").sum()))

    built = build_or_reuse(context, artifact_store, mlflow_tracking,
                           code_version=asset_code_version(context),
                           config=config.model_dump(exclude={"workers"}), inputs={"video_sources": video_sources},
                           build=build, extra_key={"media": digest})
    catalog = pl.read_parquet(built.folder / "catalog.parquet")
    quarantine = catalog.filter(pl.col("status") != "ok")
    if len(quarantine):
        context.log.warning(f"{len(quarantine)} of {len(catalog)} media files quarantined; see quarantine.parquet")
    return output(built, {
        "dagster/row_count": len(catalog),
        "files": len(catalog),
        "ok": len(catalog) - len(quarantine),
        "quarantined": len(quarantine),
        "total_duration_s": float(catalog["duration_s"].sum()),
        "preview": table_preview(catalog.select("path", "status", "frame_count", "fps", "width", "height").head(8)),
        "quarantine_preview": table_preview(quarantine.select("path", "reason").head(20)),
    })


@dg.asset(group_name=GROUP, code_version=code_version(
    "viss_r1.data.ingest", packages=("decord", "pillow", "pyvips", "pyvips-binary")))
def frame_cache(
    context: dg.AssetExecutionContext,
    config: FrameCacheConfig,
    video_catalog: ArtifactRef,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
) -> dg.Output[ArtifactRef]:
    """Sampled, resized frames of every usable clip, decoded once into Parquet shards.

    Each shard (a stable hash bucket of fingerprints) has its own cache key, so new videos only
    rebuild the shards they land in; missing shards decode in parallel worker processes."""
    check_data_plane_min_frames(context.run.run_config)
    store = artifact_store.store()
    catalog = pl.read_parquet(artifact_store.local_path(video_catalog) / "catalog.parquet")
    version = asset_code_version(context)

    def build(building: Building) -> None:
        cached = cache_frames(store, catalog.to_dicts(), config.sampling.to_library(), config.to_encoding(),
                              config.num_shards, version, config.workers, context.log.info,
                              timeout_s=config.decode_timeout_s)
        write_frame_index(building.folder, cached)
        building.parts.extend(shard_refs(store, building.folder))
        building.summary.update(clips=len(cached.index), failures=len(cached.failures), shards=len(cached.shard_keys),
                                shards_decoded=cached.shards_decoded, clips_decoded=cached.clips_decoded,
                                frames_decoded=cached.frames_decoded, clips_per_second=cached.clips_per_second)

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=version,
                           config=config.model_dump(exclude={"workers"}), inputs={"video_catalog": video_catalog},
                           build=build)
    index = pl.read_parquet(built.folder / INDEX_FILE)
    failures = pl.read_parquet(built.folder / FAILURES_FILE)
    if len(failures):
        context.log.warning(f"{len(failures)} clip(s) failed to decode; see {FAILURES_FILE}")
    return output(built, {
        "dagster/row_count": len(index),
        "clips": len(index),
        "failed_clips": len(failures),
        "shards": built.summary["shards"],
        "shards_decoded_this_run": 0 if built.reused else built.summary["shards_decoded"],
        "frames": int(index["num_frames"].sum()),
        "sampling": dg.MetadataValue.json(config.sampling.model_dump()),
        "preview": table_preview(index.head(8)),
        "failures_preview": table_preview(failures.head(20)),
    })

