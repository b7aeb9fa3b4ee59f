"""Resources the assets need, injected by the Definitions (pipelines/) — never imported globals."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import dagster as dg

from viss_r1.artifacts import ArtifactRef, ArtifactStore


def state_dir() -> str:
    """Where run state goes by default: ``$VISS_R1_STATE_DIR`` or ``./state``."""
    return os.path.abspath(os.environ.get("VISS_R1_STATE_DIR", "state"))


class ArtifactStoreResource(dg.ConfigurableResource):
    """Content-addressed artifact store; ``root`` is a folder or any fsspec URL (s3://, gs://)."""

    root: str

    def store(self) -> ArtifactStore:
        # Downloads of a remote root are cached in the state folder, which stage pods share
        # (infra/k8s): the paths a run config names must exist in the pod that reads them.
        return ArtifactStore(self.root, local_cache=os.path.join(state_dir(), "artifact_cache"))

    def local_path(self, ref: ArtifactRef):
        return self.store().local_path(ref)


class MlflowTracking(dg.ConfigurableResource):
    """One MLflow experiment per job, a parent run per Dagster run, a nested run per asset."""

    tracking_uri: str
    experiment_prefix: str = "viss_r1"
    # How often each training and evaluation process logs the machine's system metrics (CPU,
    # memory, disk, network; GPU utilisation and memory where NVML finds GPUs) into its run; 0: never.
    system_metrics_interval_s: float = 10.0

    def target(self, run) -> Any:
        """The ``MlflowTarget`` a stage process reports to: ``run``'s id (a ``StageRun``)."""
        from viss_r1.train.config import MlflowTarget

        return MlflowTarget(tracking_uri=run.tracking_uri, run_id=run.run_id,
                            system_metrics_interval_s=self.system_metrics_interval_s)

    @contextmanager
    def stage_run(
        self,
        context: dg.AssetExecutionContext,
        params: Mapping[str, Any],
        inputs: Mapping[str, ArtifactRef],
        tags: Mapping[str, Any],
    ) -> Iterator[Any]:
        from viss_r1.tracking import Tracker

        job = context.run.job_name or "adhoc"
        tracker = Tracker(self.tracking_uri, f"{self.experiment_prefix}/{job}")
        with tracker.stage_run(
            pipeline_run_id=context.run.run_id,
            pipeline_name=job,
            stage=context.asset_key.to_user_string(),
            params=params,
            inputs={name: (ref.key, ref.uri) for name, ref in inputs.items()},
            tags=tags,
        ) as run:
            yield run
