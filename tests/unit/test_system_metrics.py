"""MLflow's system metrics of a stage process go into the stage's run while it works
(viss_r1.tracking.system_metrics), and nowhere when switched off."""

from __future__ import annotations

import time

from mlflow.tracking import MlflowClient

from viss_r1.tracking import log_params, system_metrics
from viss_r1.train.config import MlflowTarget


def run_in(tmp_path) -> tuple[MlflowClient, str, str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("stage", artifact_location=str(tmp_path / "artifacts"))
    return client, uri, client.create_run(experiment).info.run_id


def test_cpu_and_memory_are_logged_into_the_stage_run_while_it_works(tmp_path):
    client, uri, run_id = run_in(tmp_path)
    with system_metrics(MlflowTarget(tracking_uri=uri, run_id=run_id, system_metrics_interval_s=0.2)):
        time.sleep(1.5)
    metrics = client.get_run(run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(metrics), metrics
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100
    assert len(client.get_metric_history(run_id, "system/cpu_utilization_percentage")) >= 2


def test_an_interval_of_zero_or_no_run_logs_nothing(tmp_path):
    client, uri, run_id = run_in(tmp_path)
    with system_metrics(MlflowTarget(tracking_uri=uri, run_id=run_id, system_metrics_interval_s=0)):
        time.sleep(0.3)
    with system_metrics(None):
        pass
    assert client.get_run(run_id).data.metrics == {}


def test_params_go_in_one_batch_and_all_arrive(tmp_path, monkeypatch):
    client, _, run_id = run_in(tmp_path)
    calls = []
    original = client.log_batch
    monkeypatch.setattr(client, "log_batch", lambda run, **kw: (calls.append(len(kw["params"])), original(run, **kw)))
    log_params(client, run_id, {f"p{i}": str(i) for i in range(250)})   # over MLflow's 100 a request
    assert calls == [250] and len(client.get_run(run_id).data.params) == 250
