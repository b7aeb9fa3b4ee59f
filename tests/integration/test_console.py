"""The run console (pipelines/console.py): what the assets say, the run's start and end and what
went wrong, one line each — not Dagster's DEBUG events, which stay in the event log (the UI) —
and Dagster's full console back on request."""

import logging
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.console import CONSOLE_LOGGERS, CONSOLE_RUN_CONFIG, LOG_LEVEL_ENV, console_level, readable_console
from pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[2]


@dg.asset
def clips(context: dg.AssetExecutionContext) -> int:
    context.log.info("step 2/2 (100%) · 1.00 steps/s · done in 2s · loss 0.5")
    context.log.debug("step 2/2: loss 0.5, learning_rate 0.001")
    return 2


@dg.asset_check(asset=clips)
def enough_clips() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="2 clips, need 3")


@dg.asset(deps=[clips])
def broken(context: dg.AssetExecutionContext) -> None:
    context.log.warning("frame cache: 1 clip quarantined")
    raise ValueError("video ./a.mp4: 1 decodable frame, need ≥ 4 (min_frames)")


def run(capsys, run_config: dict | None = None) -> tuple[str, list]:
    """The job as the project's jobs are made (readable console by default); what the console
    printed and every event the run's event log holds."""
    job = dg.define_asset_job("console_check", executor_def=dg.in_process_executor, config=CONSOLE_RUN_CONFIG)
    definitions = dg.Definitions(assets=[clips, broken], asset_checks=[enough_clips], jobs=[job],
                                 loggers=CONSOLE_LOGGERS)
    capsys.readouterr()
    with dg.DagsterInstance.ephemeral() as instance:
        result = definitions.resolve_job_def("console_check").execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False)
        events = instance.all_logs(result.run_id)
    assert not result.success
    return capsys.readouterr().err, events


def test_the_console_shows_what_the_assets_say_and_what_went_wrong_not_dagsters_debug_events(capsys, monkeypatch):
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    console, events = run(capsys)
    lines = [line for line in console.splitlines() if line[:2].isdigit()]   # "HH:MM:SS where: ..." lines
    assert [line[9:] for line in lines] == [
        'console_check: RUN_START Started execution of run for "console_check".',
        "clips: step 2/2 (100%) · 1.00 steps/s · done in 2s · loss 0.5",
        "broken: WARNING frame cache: 1 clip quarantined",
        'broken: ERROR STEP_FAILURE Execution of step "broken" failed.',
        "clips_enough_clips: ASSET_CHECK_EVALUATION Asset check 'enough_clips' on 'clips' did not pass. "
        "Description: '2 clips, need 3'",
        'console_check: ERROR RUN_FAILURE Execution of run for "console_check" failed. Steps failed: [\'broken\'].',
    ], console
    assert "ValueError: video ./a.mp4: 1 decodable frame, need ≥ 4 (min_frames)" in console   # the traceback
    # ...while the event log, which the UI reads, keeps every event and the DEBUG lines.
    types = {event.dagster_event.event_type for event in events if event.dagster_event}
    assert {dg.DagsterEventType.STEP_START, dg.DagsterEventType.HANDLED_OUTPUT,
            dg.DagsterEventType.ASSET_MATERIALIZATION} <= types
    assert any(event.user_message == "step 2/2: loss 0.5, learning_rate 0.001" for event in events)


@pytest.mark.parametrize("how", ["environment", "run config"])
def test_debug_brings_dagsters_full_console_back(capsys, monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv(LOG_LEVEL_ENV, "debug")
        run_config = None
    else:
        monkeypatch.setenv(LOG_LEVEL_ENV, "INFO")   # the run config wins
        run_config = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}
    console, _ = run(capsys, run_config)
    assert " - dagster - DEBUG - console_check - " in console
    assert " - clips - STEP_START - Started execution of step \"clips\"." in console
    assert "step 2/2: loss 0.5, learning_rate 0.001" in console


def test_a_level_that_is_not_one_says_so():
    with pytest.raises(ValueError, match="log_level 'LOUD' is not a log level"):
        console_level("loud")
    assert console_level("warning") == logging.WARNING


def test_every_job_of_the_project_prints_to_the_readable_console():
    jobs = {job.name: job for job in defs.resolve_all_job_defs() if not job.name.startswith("__ASSET_JOB")}
    # These two need a run config of their own, which names the console (Dagster validates a
    # job's default run config whole, so they cannot have one without the rest).
    needs_config = {"evaluate", "annotate_cot"}
    assert {"full_viss_r1", "ingest"} | needs_config <= set(jobs)
    for name, job in jobs.items():
        assert job.loggers["console"] is readable_console, name
        if name not in needs_config:
            assert dg.validate_run_config(job, {})["loggers"] == {"console": {"config": {}}}, name
    evaluate_config = yaml.safe_load((REPO / "infra" / "configs" / "evaluate_qwen2_5_vl_7b.yaml").read_text())
    assert evaluate_config["loggers"] == CONSOLE_RUN_CONFIG["loggers"]
