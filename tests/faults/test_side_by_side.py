"""The arms' executor (pipelines/executor.py) runs two pool steps at once where the instance allows
two (infra/dagster-cpu.yaml) and one at a time where it allows one (infra/dagster.yaml); and a run
worker killed with SIGKILL takes its step processes and their stage processes with it, so that its
rerun (which frees the dead run's pool slots) never trains beside an orphan. Real processes: the
Dagster CLI runs tests/faults/side_by_side_job.py."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
JOB_MODULE = "tests.faults.side_by_side_job"
DAGSTER = str(Path(sys.executable).with_name("dagster"))   # the venv's CLI
TIMEOUT_S = 180.0
ASSETS = ("left", "right")


def environment(tmp_path: Path, instance_file: str, hold_s: float) -> dict[str, str]:
    state = tmp_path / "state"
    home = state / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "infra" / instance_file, home / "dagster.yaml")
    folder = tmp_path / "marks"
    folder.mkdir(exist_ok=True)
    # The module named twice: the venv's default (pipelines) would clash with -m.
    return {**os.environ, "DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME": JOB_MODULE, "DAGSTER_HOME": str(home), "VISS_R1_STATE_DIR": str(state),
            "SIDE_BY_SIDE_DIR": str(folder), "SIDE_BY_SIDE_HOLD_S": str(hold_s)}


def start(tmp_path: Path, env: dict[str, str], name: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen([DAGSTER, "job", "execute", "-m", JOB_MODULE, "-j", "both"], cwd=REPO,
                               env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, log


def held(tmp_path: Path) -> dict[str, tuple[float, float]]:
    """When each asset held its slot: (start, end)."""
    marks = tmp_path / "marks"
    return {name: tuple(map(float, (marks / f"{name}.held").read_text().split())) for name in ASSETS}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) counts as dead.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {TIMEOUT_S:.0f} s: {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("instance_file, at_once", [("dagster-cpu.yaml", True), ("dagster.yaml", False)])
def test_pool_steps_run_side_by_side_only_where_the_instance_allows_two(tmp_path, instance_file, at_once):
    env = environment(tmp_path, instance_file, hold_s=3.0)
    run, log = start(tmp_path, env, "run")
    assert run.wait(timeout=TIMEOUT_S) == 0, log.read_text()[-3000:]
    (left_start, left_end), (right_start, right_end) = held(tmp_path).values()
    overlap = min(left_end, right_end) - max(left_start, right_start)
    assert (overlap > 1.0) if at_once else (overlap < 0), (instance_file, overlap)
    assert "STEP_WORKER_STARTED" not in log.read_text()   # the step processes' DEBUG console stays quiet
    assert not list((tmp_path / "state" / "locks" / "runs").iterdir())   # the run's lock and pid file are gone


def test_a_killed_run_worker_takes_its_steps_and_stages_with_it_and_the_rerun_frees_its_slots(tmp_path):
    env = environment(tmp_path, "dagster-cpu.yaml", hold_s=600.0)
    marks = tmp_path / "marks"
    first, _ = start(tmp_path, env, "first")
    wait_until(lambda: all((marks / f"{name}.{what}").exists() for name in ASSETS for what in ("step", "stage")),
               "both steps and their stages run")
    pids = {f"{name} {what}": int((marks / f"{name}.{what}").read_text()) for name in ASSETS for what in ("step", "stage")}
    assert all(alive(pid) for pid in pids.values())
    (worker_file,) = (tmp_path / "state" / "locks" / "runs").glob("*.worker")
    assert int(worker_file.read_text()) == first.pid   # the run worker holds the lock, not a step

    first.send_signal(signal.SIGKILL)   # the OOM killer, a lost terminal
    first.wait()
    wait_until(lambda: not any(alive(pid) for pid in pids.values()),
               f"every step and stage process ends (alive: {[k for k, p in pids.items() if alive(p)]})")

    dead = worker_file.stem
    for name in ASSETS:
        for what in ("step", "stage"):
            (marks / f"{name}.{what}").unlink()
    second, log = start(tmp_path, {**env, "SIDE_BY_SIDE_HOLD_S": "0"}, "second")
    assert second.wait(timeout=TIMEOUT_S) == 0, log.read_text()[-3000:]
    assert f"run {dead} died in gpu/" in log.read_text()
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("gpu").claimed_slots == []
