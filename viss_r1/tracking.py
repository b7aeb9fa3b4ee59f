"""MLflow tracking without Dagster: one experiment per job, one parent run per pipeline run,
one nested run per stage (DESIGN.md "Tracking"). Uses ``MlflowClient`` with explicit run ids, so
stages in one process never share MLflow's global "active run" by accident."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

PIPELINE_RUN_TAG = "viss_r1.pipeline_run_id"
STAGE_TAG = "viss_r1.stage"
BUILT_BY_TAG = "viss_r1.built_by_run"   # on a reused stage's run: the run that built the artifact


def default_tracking_uri(state_dir: str) -> str:
    """``MLFLOW_TRACKING_URI`` when the user set one, else a SQLite file in the state folder
    (MLflow's ``file:`` store is deprecated)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{os.path.abspath(state_dir)}/mlflow.db"


@contextmanager
def system_metrics(target: Any | None) -> Iterator[None]:
    """While the block runs, MLflow's system metrics of this machine — CPU, memory, disk, network,
    and GPU utilisation and memory where NVML finds GPUs — go into ``target``'s run (an
    ``MlflowTarget``) as ``system/*`` every ``target.system_metrics_interval_s``. The main process
    only (every rank would log the same machine); a resumed stage continues the steps."""
    from viss_r1.process import is_main_process

    if target is None or not target.system_metrics_interval_s or not is_main_process():
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(target.run_id, sampling_interval=target.system_metrics_interval_s,
                                   resume_logging=True, tracking_uri=target.tracking_uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


def log_params(client: Any, run_id: str, params: Mapping[str, str]) -> None:
    """``params`` in one ``log_batch`` (MLflow splits it into requests of its batch limit), not one
    request per param (a stage has ~60–150)."""
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(name, value) for name, value in params.items()])


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config → MLflow params ('sampling.fps': '2.0'); lists as JSON."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return flat


class StageRun:
    """Logging handle for one stage's nested MLflow run."""

    def __init__(self, client, run_id: str, experiment_id: str, tracking_uri: str):
        self.client, self.run_id = client, run_id
        self.experiment_id, self.tracking_uri = experiment_id, tracking_uri

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """In one ``log_batch`` (MLflow splits it into requests of its batch limit), not one request
        per metric."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(name, float(value), stamp, step or 0)
                                                    for name, value in metrics.items()])

    def link_built(self, built_run_id: str | None) -> None:
        """A reused stage's run points at the run that built its artifact (tag ``BUILT_BY_TAG``)
        and carries that run's final metrics, so a compare view over arms finds the training
        figures whichever run it picks. A run the tracking server does not know (the artifact
        came from another server) leaves the tag alone."""
        if not built_run_id:
            return
        self.client.set_tag(self.run_id, BUILT_BY_TAG, built_run_id)
        try:
            built = self.client.get_run(built_run_id)
        except Exception:   # another tracking server's run: nothing to copy from here
            return
        self.log_metrics({name: value for name, value in built.data.metrics.items() if not name.startswith("system/")})

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, local_path, artifact_path)

    def log_table(self, table: Mapping[str, list], artifact_file: str) -> None:
        """A table MLflow's UI shows in its artifact view (columns → values)."""
        self.client.log_table(self.run_id, data=dict(table), artifact_file=artifact_file)

    def log_model(self, name: str, folder: Path, uri: str, max_copy_mb: float = 256.0) -> str:
        """Record a checkpoint as an MLflow logged model linked to this run. Small ones (the tiny
        model) are copied into MLflow; big ones stay in the artifact store, referenced by ``uri``
        — copying 15 GB of 7B weights twice helps no one."""
        from mlflow.entities import LoggedModelOutput

        size_mb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
        model = self.client.create_logged_model(
            self.experiment_id, name=name, source_run_id=self.run_id, model_type="transformers-checkpoint",
            tags={"viss_r1.artifact_uri": uri, "viss_r1.size_mb": f"{size_mb:.1f}"})
        if size_mb <= max_copy_mb:
            self.client.log_model_artifacts(model.model_id, str(folder))
        self.client.finalize_logged_model(model.model_id, "READY")
        self.client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, step=0)])
        return model.model_id


def default_artifact_location(tracking_uri: str) -> str | None:
    """For a local SQLite store, keep MLflow's artifacts beside it (not in ./mlruns of
    whatever folder a process happens to run in); servers choose their own."""
    if tracking_uri.startswith("sqlite:///"):
        return os.path.join(os.path.dirname(tracking_uri.removeprefix("sqlite:///")), "mlflow-artifacts")
    return None


class Tracker:
    def __init__(self, tracking_uri: str, experiment: str):
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self._create_experiment(experiment)

    def _create_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name, artifact_location=default_artifact_location(self.tracking_uri))
        except MlflowException:  # another process created it first
            return self.client.get_experiment_by_name(name).experiment_id

    def parent_run_id(self, pipeline_run_id: str, run_name: str) -> str:
        query = f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}' and tags.`{STAGE_TAG}` = 'pipeline'"
        existing = self.client.search_runs([self.experiment_id], filter_string=query, max_results=1)
        if existing:
            return existing[0].info.run_id
        run = self.client.create_run(self.experiment_id, run_name=run_name,
                                     tags={PIPELINE_RUN_TAG: pipeline_run_id, STAGE_TAG: "pipeline"})
        return run.info.run_id

    @contextmanager
    def stage_run(
        self,
        pipeline_run_id: str,
        pipeline_name: str,
        stage: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, tuple[str, str]] = {},
        tags: Mapping[str, Any] = {},
    ) -> Iterator[StageRun]:
        """A nested run under the pipeline run; ``inputs`` maps name → (digest, uri) and is
        logged as MLflow datasets so the UI shows which artifact versions a stage read."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        parent = self.parent_run_id(pipeline_run_id, f"{pipeline_name}-{pipeline_run_id[:8]}")
        run = self.client.create_run(
            self.experiment_id,
            run_name=stage,
            tags={"mlflow.parentRunId": parent, PIPELINE_RUN_TAG: pipeline_run_id, STAGE_TAG: stage,
                  **{k: str(v) for k, v in tags.items()}},
        )
        run_id = run.info.run_id
        status = "FAILED"   # until the stage's body returns: logging its params can fail too
        try:
            log_params(self.client, run_id, {name: value[:6000] for name, value in flatten(params).items()})
            if inputs:
                self.client.log_inputs(run_id, datasets=[
                    DatasetInput(
                        Dataset(name=name, digest=digest, source_type="artifact_store", source=json.dumps({"uri": uri})),
                        tags=[InputTag("mlflow.data.context", "input")],
                    )
                    for name, (digest, uri) in inputs.items()
                ])
            self._update_parent(parent, pipeline_run_id)
            yield StageRun(self.client, run_id, self.experiment_id, self.tracking_uri)
            status = "FINISHED"
        finally:
            self.client.set_terminated(run_id, status=status)
            self._update_parent(parent, pipeline_run_id)

    def _update_parent(self, parent: str, pipeline_run_id: str) -> None:
        """The pipeline run's status, derived from its stages' runs each time one starts or ends:
        FAILED once any stage failed (and it stays so), RUNNING while any stage runs, FINISHED
        when all ended without failure. Derived from the children rather than from the parent's
        own last status, so neither a later successful stage nor a parallel one still running
        can write over another stage's failure, and the last stage to end sets the final word.
        A stage tried again in the same pipeline run (Dagster's retry) counts by its newest attempt."""
        query = f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}' and tags.`{STAGE_TAG}` != 'pipeline'"
        newest: dict[str, Any] = {}
        for run in self.client.search_runs([self.experiment_id], filter_string=query):
            stage = run.data.tags.get(STAGE_TAG)
            if stage not in newest or run.info.start_time > newest[stage].info.start_time:
                newest[stage] = run
        statuses = {run.info.status for run in newest.values()}
        if statuses & {"FAILED", "KILLED"}:
            self.client.set_terminated(parent, status="FAILED")
        elif statuses & {"RUNNING", "SCHEDULED"}:
            self.client.update_run(parent, status="RUNNING")
        else:
            self.client.set_terminated(parent, status="FINISHED")
