"""A GRPO stage's learning-signal check in a job (tests/learning_signal_job.py: the stage's model
publishes a hand-made result.json): most steps without reward spread fail it and the model made
from it does not run; a stage with a signal passes; the threshold is run config; the check reads
the artifact, so a model reused from an earlier run is judged the same way; the CLI run fails
with the reason in its output."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from learning_signal_job import CHECK_ONLY_JOB, JOB, NEXT_STAGE, STAGE, defs, run_config

CHECK = dg.AssetCheckKey(dg.AssetKey(STAGE.model), "grpo_has_learning_signal")
TESTS = Path(__file__).resolve().parents[1]


def execute(config: dict, instance: dg.DagsterInstance, job: str = JOB) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(run_config=config, instance=instance, raise_on_error=False)


def evaluation(result: dg.ExecuteInProcessResult):
    (check,) = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == CHECK]
    return check


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def test_a_stage_without_reward_spread_fails_its_check_and_blocks_the_model_made_from_it(isolated_state):
    with dg.instance_for_test() as instance:
        result = execute(run_config([1.0, 1.0, 1.0, 0.5], rewards=[0.0, 0.0, 0.0, 0.2]), instance)
        check = evaluation(result)
        assert not result.success
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR and check.blocking
        assert check.description.startswith(
            f"GRPO stage '{STAGE.name}': 3 of its 4 logged steps had no reward spread in any group (75%; allowed: "
            "50%), mean reward 0.05: it has no learning signal")
        assert "Start the stage from a model that already writes the answer format" in check.description
        assert "resources.learning_signal.config.max_fraction_without_signal" in check.description
        assert {k: v.value for k, v in check.metadata.items()} == {
            "steps": 4, "steps_without_signal": 3, "fraction_without_signal": 0.75, "threshold": 0.5,
            "mean_reward": pytest.approx(0.05)}
        assert materialized(result) == {STAGE.model}   # the model made from it did not run
        assert [f.step_key for f in result.get_step_failure_events()] == [f"{STAGE.model}_{CHECK.name}"]


def test_a_stage_with_a_signal_passes_and_the_next_model_runs(isolated_state):
    with dg.instance_for_test() as instance:
        result = execute(run_config([1.0, 0.5, 1.0, 0.0], rewards=[0.0, 0.5, 0.0, 1.5]), instance)
        check = evaluation(result)
        assert result.success and check.passed
        assert check.description == (f"GRPO stage '{STAGE.name}': 2 of its 4 logged steps had no reward spread in "
                                     "any group (50%; allowed: 50%).")
        assert {k: v.value for k, v in check.metadata.items()} == {
            "steps": 4, "steps_without_signal": 2, "fraction_without_signal": 0.5, "threshold": 0.5,
            "mean_reward": 0.5}
        assert materialized(result) == {STAGE.model, NEXT_STAGE.model}


def test_the_threshold_is_run_config_and_a_reused_model_is_judged_from_its_artifact(isolated_state):
    never_signal = [1.0, 1.0, 1.0]
    with dg.instance_for_test() as instance:
        allowed = execute(run_config(never_signal, threshold=1.0), instance)
        assert allowed.success and evaluation(allowed).passed
        assert evaluation(allowed).metadata["threshold"].value == 1.0
        # The check alone, on the model the first run published: the default threshold fails it.
        again = execute({}, instance, job=CHECK_ONLY_JOB)
        assert materialized(again) == set()
        assert not again.success and not evaluation(again).passed
        assert evaluation(again).metadata["steps_without_signal"].value == 3
        with pytest.raises(dg.DagsterResourceFunctionError) as refused:   # a share, typed: 0 to 1
            defs.resolve_job_def(JOB).execute_in_process(run_config=run_config(never_signal, threshold=1.5),
                                                         instance=instance)
        assert "max_fraction_without_signal" in str(refused.value.__cause__)
        assert "less than or equal to 1" in str(refused.value.__cause__)


@pytest.mark.slow
def test_the_cli_run_fails_with_the_reason_in_its_output(isolated_state, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(str(run_config([1.0, 1.0])).replace("'", '"'))   # JSON is YAML
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "learning_signal_job", "-j", JOB,
         "-c", str(config)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])})
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"GRPO stage '{STAGE.name}': 2 of its 2 logged steps had no reward spread in any group" in output
    assert "it has no learning signal" in output
    assert f"Materialized value {STAGE.model}." in output
    assert f"Materialized value {NEXT_STAGE.model}" not in output
