"""A failed stage leaves its MLflow run and the pipeline's parent run FAILED; a later successful
stage does not flip the parent back, and the parent is FINISHED only when every stage ended well."""

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient

from assets.caching import Building, build_or_reuse
from assets.resources import ArtifactStoreResource, MlflowTracking
from pipelines.definitions import resources
from viss_r1.tracking import PIPELINE_RUN_TAG, STAGE_TAG, Tracker


def statuses(client: MlflowClient, pipeline_run_id: str) -> dict[str, str]:
    """Stage name ("pipeline" for the parent) → MLflow status, for one pipeline run."""
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run_id}'")
    return {run.data.tags[STAGE_TAG]: run.info.status for run in runs}


@pytest.fixture
def tracker(tmp_path) -> Tracker:
    return Tracker(f"sqlite:///{tmp_path}/mlflow.db", "viss_r1/test")


def test_a_failed_stage_leaves_its_run_and_the_parent_failed_even_after_a_later_success(tracker):
    with pytest.raises(RuntimeError, match="stage a broke"):
        with tracker.stage_run("run-1", "job", "a", params={}):
            raise RuntimeError("stage a broke")
    assert statuses(tracker.client, "run-1") == {"pipeline": "FAILED", "a": "FAILED"}

    with tracker.stage_run("run-1", "job", "b", params={}):
        assert statuses(tracker.client, "run-1") == {"pipeline": "FAILED", "a": "FAILED", "b": "RUNNING"}
    assert statuses(tracker.client, "run-1") == {"pipeline": "FAILED", "a": "FAILED", "b": "FINISHED"}


def test_the_parent_finishes_only_when_its_last_stage_does(tracker):
    with tracker.stage_run("run-2", "job", "a", params={"x": 1}):
        # A parallel step starts while "a" runs and ends after it: the parent runs on until then.
        with tracker.stage_run("run-2", "job", "b", params={}):
            pass
        assert statuses(tracker.client, "run-2") == {"pipeline": "RUNNING", "a": "RUNNING", "b": "FINISHED"}
    assert statuses(tracker.client, "run-2") == {"pipeline": "FINISHED", "a": "FINISHED", "b": "FINISHED"}


@dg.asset
def a_breaks(context: dg.AssetExecutionContext, artifact_store: ArtifactStoreResource,
             mlflow_tracking: MlflowTracking):
    def build(building: Building) -> None:
        raise RuntimeError("build of a_breaks failed")

    build_or_reuse(context, artifact_store, mlflow_tracking, code_version="1", config={}, inputs={}, build=build)


@dg.asset
def b_works(context: dg.AssetExecutionContext, artifact_store: ArtifactStoreResource,
            mlflow_tracking: MlflowTracking):
    def build(building: Building) -> None:
        (building.folder / "out.txt").write_text("ok")

    return build_or_reuse(context, artifact_store, mlflow_tracking, code_version="1", config={}, inputs={},
                          build=build).ref


def test_a_failed_asset_leaves_its_stage_run_and_the_parent_failed(isolated_state):
    """Through Dagster: the failing asset's step runs first (in-process, by name), the independent
    one after it succeeds — its end must not mark the pipeline run FINISHED."""
    with dg.instance_for_test() as instance:
        result = dg.materialize([a_breaks, b_works], resources=resources(), instance=instance, raise_on_error=False)
    assert not result.success
    assert [e.step_key for e in result.all_events if e.is_step_success] == ["b_works"]
    client = MlflowClient(f"sqlite:///{isolated_state}/mlflow.db")
    assert statuses(client, result.run_id) == {"pipeline": "FAILED", "a_breaks": "FAILED", "b_works": "FINISHED"}
