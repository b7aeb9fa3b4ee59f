"""A call run in a process of its own (``viss_r1.own_process.run_in_own_process``: the tiny
model's build) gives back its result, its exception, or — when the process dies — a clear error."""

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import psutil
import pytest
from asset_runs import materialize_assets, metadata
from integration.test_model_assets import ASSETS
from integration.test_model_assets import run_config as model_run_config

import viss_r1.modeling.tiny
from pipelines.definitions import resources
from viss_r1.own_process import ProcessLost, run_in_own_process


def test_the_call_runs_in_another_process_and_returns_its_result():
    assert run_in_own_process(os.getpid) != os.getpid()
    assert run_in_own_process(divmod, 17, 5) == (3, 2)


def test_the_calls_exception_is_raised_here_with_its_type_and_message():
    with pytest.raises(ValueError, match="invalid literal for int"):
        run_in_own_process(int, "not a number")


@pytest.mark.parametrize("death", [(os.abort,), (signal.raise_signal, signal.SIGKILL)], ids=["abort", "SIGKILL"])
def test_a_process_that_dies_before_returning_raises_process_lost(death):
    with pytest.raises(ProcessLost, match=r"died before it returned \(killed, out of memory, or crashed\)"):
        run_in_own_process(*death)


def test_the_call_dies_with_the_process_that_started_it():
    """The Dagster process killed with SIGKILL mid-build: its build process goes with it (Linux's
    parent-death signal; the suite runs on Linux)."""
    parent = subprocess.Popen([sys.executable, "-c", "import time\n"
                               "from viss_r1.own_process import run_in_own_process\n"
                               "run_in_own_process(time.sleep, 120)"])
    try:
        deadline = time.monotonic() + 60
        while not (children := [c for c in psutil.Process(parent.pid).children(recursive=True)
                                if "spawn_main" in " ".join(c.cmdline())]):
            assert time.monotonic() < deadline, "the build process never started"
            time.sleep(0.2)
        time.sleep(2)   # the child is running the call
        parent.kill()
        parent.wait()
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"still running after their parent was killed: {alive}"
    finally:
        parent.kill()


def die_like_the_oom_killer(*args):
    """Stands in for the tiny model's build (top-level: the spawned process imports it by name)."""
    signal.raise_signal(signal.SIGKILL)


def test_a_tiny_model_build_killed_midway_fails_the_step_clearly_publishes_nothing_and_a_rerun_builds(
        isolated_state, monkeypatch):
    selection = ["video_sources", "video_catalog", "frame_cache", "pretext_samples", "base_model"]
    config = {"ops": {name: op for name, op in model_run_config()["ops"].items() if name in selection}}
    build = viss_r1.modeling.tiny.build_tiny_model
    with dg.instance_for_test() as instance:
        monkeypatch.setattr(viss_r1.modeling.tiny, "build_tiny_model", die_like_the_oom_killer)
        killed = dg.materialize(ASSETS, selection=selection, resources=resources(), run_config=config,
                                instance=instance, raise_on_error=False)
        assert not killed.success
        (failure,) = [event for event in killed.all_events if event.is_step_failure]
        assert failure.step_key == "base_model"
        message = failure.step_failure_data.error.message
        assert "building the tiny model failed" in message and "died before it returned" in message
        assert not list((isolated_state / "artifacts" / "base_model").glob("*/manifest.json"))

        monkeypatch.setattr(viss_r1.modeling.tiny, "build_tiny_model", build)
        built = materialize_assets(ASSETS, config, instance, selection=selection)
        assert metadata(built, "base_model")["reused"] is False
        assert len(list((isolated_state / "artifacts" / "base_model").glob("*/manifest.json"))) == 1
