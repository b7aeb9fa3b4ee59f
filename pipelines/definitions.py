"""The one Definitions object: assets, checks, jobs and the resources for this environment."""

from __future__ import annotations

import os

import dagster as dg

from assets import annotation, checks, datasets, evaluation, ingestion, models, rl
from assets.resources import ArtifactStoreResource, MlflowTracking, StageLauncher, state_dir
from pipelines.jobs import JOBS
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
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, datasets, annotation, models, rl, evaluation]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    jobs=JOBS,
    resources=resources(),
)
