"""Dagster's retries on training and evaluation (assets/retries.py): one transient failure of the
stage process and the same run finishes the asset, the retry launching into the same work folder
(where a real training resumes from its checkpoint and an evaluation after its finished samples).
The stage processes are the stand-ins of tests/faults/test_publish.py."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from mlflow.tracking import MlflowClient

from assets.launcher import StageLauncher
from assets.retries import StageRetries
from faults.test_publish import EVALUATION, SFT_LAUNCHES, TRAINING, fail_once, launches, run_config  # noqa: F401
from pipelines.definitions import all_assets, definitions, resources
from viss_r1.stages import STAGES
from viss_r1.tracking import STAGE_TAG

RETRY_AT_ONCE = StageRetries(max_retries=1, delay_s=0)


def materialize(selection: list[str], retries: StageRetries) -> dg.ExecuteInJobResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(all_assets(retries=retries), selection=selection, resources=resources(),
                              run_config=run_config(selection), instance=instance, raise_on_error=False)


def evaluation_job() -> dg.JobDefinition:
    """The evaluation's assets as a job with the project's in-process executor, retrying at once
    (a module-level function: ``dg.execute_job`` reconstructs the job from it)."""
    job = dg.define_asset_job("evaluation_with_retries", selection=EVALUATION, executor_def=dg.in_process_executor)
    return dg.Definitions(assets=all_assets(retries=RETRY_AT_ONCE), jobs=[job],
                          resources=resources()).resolve_job_def(job.name)


def execute(job_fn, run_config: dict) -> dg.ExecutionResult:
    """Like ``dagster job execute``: the job's own executor and the run config's ``execution``
    (``materialize`` and ``execute_in_process`` leave the executor's retry mode aside)."""
    with dg.instance_for_test() as instance:
        return dg.execute_job(dg.reconstructable(job_fn), instance, run_config=run_config, raise_on_error=False)


def output_dir(config_file: str) -> str:
    return yaml.safe_load(Path(config_file).read_text())["output_dir"]


def attempts(result: dg.ExecuteInJobResult, node: str) -> int:
    return sum(1 for event in result.all_events if event.step_key == node and event.event_type_value == "STEP_START"
               or event.step_key == node and event.event_type_value == "STEP_RESTARTED")


def test_the_retry_policy_comes_from_the_environment_and_backs_off_exponentially():
    assert StageRetries.from_env({}) == StageRetries(max_retries=2, delay_s=30.0)
    policy = StageRetries.from_env({"VISS_R1_STAGE_RETRIES": "4", "VISS_R1_STAGE_RETRY_DELAY_S": "5"}).policy()
    assert (policy.max_retries, policy.delay, policy.backoff) == (4, 5.0, dg.Backoff.EXPONENTIAL)
    assert StageRetries(max_retries=0).policy() is None
    with pytest.raises(ValueError, match="VISS_R1_STAGE_RETRIES: a count ≥ 0"):
        StageRetries.from_env({"VISS_R1_STAGE_RETRIES": "-1"})
    with pytest.raises(ValueError, match="VISS_R1_STAGE_RETRY_DELAY_S"):
        StageRetries.from_env({"VISS_R1_STAGE_RETRY_DELAY_S": "soon"})


def test_training_and_evaluation_assets_retry_and_nothing_else_does():
    policy = StageRetries(max_retries=3, delay_s=1).policy()
    graph = definitions(retries=StageRetries(max_retries=3, delay_s=1)).resolve_asset_graph()
    retrying = {key.to_user_string() for key in graph.get_all_asset_keys()
                if graph.get(key).is_materializable and graph.get(key).assets_def.op.retry_policy == policy}
    trained = {stage.model for stage in STAGES.values()}
    evaluated = {key.to_user_string() for key in graph.get_all_asset_keys() if key.path[0] == "eval"}
    assert trained and evaluated and retrying == trained | evaluated


def test_a_transient_training_failure_is_retried_in_the_same_run_into_the_same_work_folder(
        isolated_state, monkeypatch, launches):  # noqa: F811
    failed = fail_once(monkeypatch, StageLauncher, "run",
                       when=lambda launcher, context, module, config_file: "/sft_model/" in config_file)
    calls = []
    flaky = StageLauncher.run
    monkeypatch.setattr(StageLauncher, "run", lambda self, context, module, config_file: (
        calls.append(output_dir(config_file)), flaky(self, context, module, config_file))[1])

    result = materialize(TRAINING, RETRY_AT_ONCE)
    assert result.success and len(failed) == 1
    assert launches == SFT_LAUNCHES                     # the failed launch never reached the stand-in
    sft_calls = [call for call in calls if "/sft_model/" in call]
    assert len(sft_calls) == 2 and sft_calls[0] == sft_calls[1]   # retried into the same work folder
    assert attempts(result, "sft_model") == 2
    (event,) = result.asset_materializations_for_node("sft_model")
    assert event.metadata["global_step"].value == 4
    # MLflow keeps the failed attempt; the pipeline's run ends FINISHED, judged by each stage's newest.
    client = MlflowClient(f"sqlite:///{isolated_state / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], order_by=["start_time ASC"])
    assert [r.info.status for r in runs if r.data.tags.get(STAGE_TAG) == "sft_model"] == ["FAILED", "FINISHED"]
    (parent,) = [r for r in runs if r.data.tags.get(STAGE_TAG) == "pipeline"]
    assert parent.info.status == "FINISHED"


def test_a_transient_evaluation_failure_is_retried_and_switched_off_per_run_it_fails_the_run(
        isolated_state, monkeypatch, launches):  # noqa: F811
    failed = fail_once(monkeypatch, StageLauncher, "run",
                       when=lambda launcher, context, module, config_file: module == "viss_r1.evaluate.run")
    off = execute(evaluation_job, {**run_config(EVALUATION), "execution": {"config": {"retries": {"disabled": {}}}}})
    assert not off.success and len(failed) == 1 and launches == []
    assert attempts(off, "eval__base_model__synthetic") == 1

    failed.clear()
    result = materialize(EVALUATION, RETRY_AT_ONCE)
    assert result.success and len(failed) == 1 and launches == ["viss_r1.evaluate.run"]
    assert attempts(result, "eval__base_model__synthetic") == 2
