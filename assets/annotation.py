"""SSL-CoT re-annotation (optional): an annotator model writes transform-aware chains of thought.

Not part of ``full_viss_r1``: run the ``annotate_cot`` job with an annotator checkpoint, then add
the produced ``ssl_cot.json`` to ``video_sources`` as an annotation source — it is in the SSL-CoT
schema, so it loads exactly like the release's file and the SFT stage trains on it.
"""


import json
import shutil

import dagster as dg
import polars as pl

from assets.caching import Building, asset_code_version, build_or_reuse, table_preview, output
from assets.configs import CotAnnotationsConfig
from assets.launcher import StageLauncher
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.annotate import KEPT_FILE, REJECTED_FILE, SUMMARY_FILE
from viss_r1.artifacts import ArtifactRef
from viss_r1.code_versions import code_version
from viss_r1.data.frame_cache import shard_files
from viss_r1.data.pretext_samples import COT_TABLE
from viss_r1.process import write_config


@dg.asset(group_name="datasets", pool="gpu", code_version=code_version(
    "viss_r1.annotate", packages=("torch", "transformers", "tokenizers")))
def cot_annotations(
    context: dg.AssetExecutionContext,
    config: CotAnnotationsConfig,
    pretext_samples: ArtifactRef,
    frame_cache: ArtifactRef,
    artifact_store: ArtifactStoreResource,
    mlflow_tracking: MlflowTracking,
    stage_launcher: StageLauncher,
) -> dg.Output[ArtifactRef]:
    """The SFT-use samples re-annotated on their transformed clips — by default hinted, as the
    release did (the annotator is shown the true transform and answer); kept only where the output
    names the true transform and answers correctly (the true letter is what is stored)."""
    inputs = {"pretext_samples": pretext_samples, "frame_cache": frame_cache}

    def build(building: Building) -> None:
        # The work folder, not the staging one: its parts survive a kill, so a rerun asks only
        # the samples not judged yet (hours of annotator time at the release's scale).
        work = building.work_dir()
        run_config = config.to_library(
            samples=str(artifact_store.local_path(pretext_samples) / f"{COT_TABLE}.parquet"),
            frame_shards=shard_files(artifact_store.store(), artifact_store.local_path(frame_cache)),
            output_dir=str(work))
        config_file = write_config(run_config, work / "annotate.yaml")
        stage_launcher.run(context, "viss_r1.annotate", str(config_file))
        for name in (KEPT_FILE, REJECTED_FILE, SUMMARY_FILE):
            shutil.copy(work / name, building.folder / name)
        building.summary.update(json.loads((building.folder / SUMMARY_FILE).read_text()))
        building.remove_after_publish(work)

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version=asset_code_version(context),
                           config=config.model_dump(), inputs=inputs, build=build)
    rejected = pl.read_parquet(built.folder / REJECTED_FILE)
    reasons = rejected.group_by(pl.col("reason").str.split(",").list.first()).len().sort("len", descending=True)
    return output(built, {
        "kept": built.summary["kept"], "rejected": built.summary["rejected"],
        "kept_fraction": dg.MetadataValue.float(built.summary["kept_fraction"]),
        "prompt": built.summary["prompt"],
        "ssl_cot_file": dg.MetadataValue.path(str(built.folder / KEPT_FILE)),
        "rejection_reasons": table_preview(reasons),
    })
