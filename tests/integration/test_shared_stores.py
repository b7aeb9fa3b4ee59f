"""The stores at scale, through the same code path as the local default: the artifact store on
an s3:// URL (s3fs against moto's S3 server on loopback, standing in for S3, GCS or MinIO) and
MLflow on a tracking server started on loopback. The data-plane assets run against both, then
rerun. (An in-process ``memory://`` store cannot stand in here: the frame cache's decode workers
are other processes, which would each write into a memory of their own.)"""

from __future__ import annotations

import os
import uuid

import dagster as dg
import pytest
import s3fs
from asset_runs import materialize_assets, metadata
from mlflow.tracking import MlflowClient
from moto.server import ThreadedMotoServer

from assets import datasets, ingestion
from e2e.ui_servers import BIN, serving, free_port
from viss_r1.tracking import STAGE_TAG

STAGES = ["video_sources", "video_catalog", "frame_cache", "pretext_samples"]
RUN_CONFIG = {"ops": {"video_sources": {"config": {"synthetic": {"num_train": 8, "num_eval": 2}}}}}


@pytest.fixture
def object_store(monkeypatch):
    """An S3 endpoint on loopback with one bucket; every process of the test (the frame cache's
    workers too) finds it through the standard AWS variables."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"viss-r1-{uuid.uuid4().hex[:8]}"
    filesystem = s3fs.S3FileSystem(skip_instance_cache=True)
    filesystem.mkdir(bucket)
    yield filesystem, bucket
    server.stop()
    # fsspec caches filesystems by their arguments: a cached one would keep this stopped
    # server's endpoint for the next test that starts its own.
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def tracking_server(tmp_path):
    """`mlflow server` with its own SQLite store and proxied artifacts, on loopback."""
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
               "--artifacts-destination", str(tmp_path / "server-artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with serving("mlflow server", command, env, tmp_path, port, "/health", tmp_path / "mlflow_server.log") as url:
        yield url, tmp_path / "server-artifacts"


def test_artifacts_on_an_object_store_and_mlflow_on_a_tracking_server(isolated_state, monkeypatch, object_store,
                                                                      tracking_server):
    url, server_artifacts = tracking_server
    bucket_fs, bucket = object_store
    root = f"s3://{bucket}/artifacts"
    monkeypatch.setenv("VISS_R1_ARTIFACT_ROOT", root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    assets = dg.load_assets_from_modules([ingestion, datasets])

    def materialize() -> dict[str, dict]:
        with dg.instance_for_test() as instance:
            result = materialize_assets(assets, RUN_CONFIG, instance)
        return {name: metadata(result, name) for name in STAGES}

    first = materialize()
    for name in STAGES:
        assert first[name]["reused"] is False
        assert bucket_fs.exists(f"{bucket}/artifacts/{name}/{first[name]['cache_key']}/manifest.json")
        assert first[name]["artifact_uri"] == f"{root}/{name}/{first[name]['cache_key']}"
    assert bucket_fs.ls(f"{bucket}/artifacts/frame_cache_shard")                # shards uploaded by the workers
    assert not (isolated_state / "artifacts").exists()                          # nothing went to the local root
    assert list((isolated_state / "artifact_cache" / "frame_cache").iterdir())  # downloads cached in the state

    client = MlflowClient(url)
    (experiment,) = [e for e in client.search_experiments() if e.name.startswith("viss_r1/")]
    runs = client.search_runs([experiment.experiment_id])
    stage_runs = {run.data.tags[STAGE_TAG]: run for run in runs if "mlflow.parentRunId" in run.data.tags}
    assert set(stage_runs) == set(STAGES)
    catalog = stage_runs["video_catalog"]
    assert catalog.data.tags["cache_key"] == first["video_catalog"]["cache_key"] and catalog.data.params
    assert catalog.data.metrics                                                 # figures logged to the server
    assert list(server_artifacts.rglob("*")), "no artifact reached the server's artifact store"

    second = materialize()
    assert all(second[name]["reused"] and second[name]["cache_key"] == first[name]["cache_key"] for name in STAGES)
    assert len(client.search_runs([experiment.experiment_id])) == 2 * len(runs)
