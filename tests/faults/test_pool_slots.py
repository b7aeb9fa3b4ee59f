"""A run killed while it holds the ``gpu`` pool slot does not block every later run forever
(assets/run_liveness.py). Real processes — this file run as a script — each materialize one pool
asset in a shared Dagster instance configured as infra/dagster.yaml (pool limit 1), and one of them
is killed with SIGKILL while it holds the slot, as the OOM killer or a lost terminal would."""

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
TIMEOUT_S = 120.0
STEP = "gpu/holds_the_device"


def holder(holding: str, hold_s: str, interval_s: str) -> None:
    """Materialize a pool asset that writes ``holding`` once it has the slot, then holds it ``hold_s``."""
    from assets.launcher import StageLauncher

    @dg.asset(pool="gpu")
    def holds_the_device(stage_launcher: StageLauncher) -> None:
        Path(holding).write_text(str(os.getpid()))
        time.sleep(float(hold_s))

    dg.materialize([holds_the_device], instance=dg.DagsterInstance.get(),
                   resources={"stage_launcher": StageLauncher(pool_check_interval_s=float(interval_s))})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    (state / "dagster_home").mkdir(parents=True)
    shutil.copy(REPO / "infra" / "dagster.yaml", state / "dagster_home" / "dagster.yaml")
    monkeypatch.setenv("VISS_R1_STATE_DIR", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    return state


def start(tmp_path: Path, name: str, hold_s: float, interval_s: float = 1.0) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen([sys.executable, __file__, str(tmp_path / f"{name}.holding"), str(hold_s), str(interval_s)],
                               cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, log


def wait_until(condition, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert process is None or process.poll() is None, f"{process.args} ended before {what}"
        assert time.monotonic() < deadline, f"not within {TIMEOUT_S:.0f} s: {what}"
        time.sleep(0.1)


def runs(instance: dg.DagsterInstance) -> dict[str, str]:
    return {run.run_id: run.status.value for run in instance.get_runs()}


def holders(instance: dg.DagsterInstance) -> list[str]:
    return [slot.run_id for slot in instance.event_log_storage.get_concurrency_info("gpu").claimed_slots]


def test_a_run_killed_holding_the_pool_slot_is_failed_and_its_slot_freed_by_the_next_run(tmp_path, home):
    first, _ = start(tmp_path, "first", hold_s=600)
    wait_until((tmp_path / "first.holding").exists, "the first run holds the slot", first)
    with dg.DagsterInstance.get() as instance:
        (dead,) = holders(instance)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert runs(instance)[dead] == "STARTED"   # what Dagster alone is left with: a slot held forever

        second, log = start(tmp_path, "second", hold_s=0)
        assert second.wait(timeout=TIMEOUT_S) == 0, log.read_text()
        assert (tmp_path / "second.holding").exists()
        assert f"run {dead} died in {STEP} without freeing its pool slot" in log.read_text()
        assert runs(instance)[dead] == "FAILURE"
        assert holders(instance) == []
        assert not list((home / "locks" / "runs").iterdir())   # neither run's lock file is left


def test_a_live_holder_keeps_its_slot_and_the_waiting_run_says_whom_it_waits_for(tmp_path, home):
    """The waiting run never takes a live run's slot; it names the holder, and once the holder is
    killed it frees the slot itself and runs (the check repeats while it waits)."""
    first, _ = start(tmp_path, "first", hold_s=600)
    wait_until((tmp_path / "first.holding").exists, "the first run holds the slot", first)
    with dg.DagsterInstance.get() as instance:
        (alive,) = holders(instance)
        second, log = start(tmp_path, "second", hold_s=0)
        wait_until(lambda: f"waits for a pool slot held by run {alive} ({STEP})" in log.read_text(),
                   "the waiting run names the holder", second)
        time.sleep(3)   # three checks of the waiting run: the holder is alive each time
        assert holders(instance) == [alive] and runs(instance)[alive] == "STARTED"
        assert not (tmp_path / "second.holding").exists()

        first.send_signal(signal.SIGKILL)
        first.wait()
        assert second.wait(timeout=TIMEOUT_S) == 0, log.read_text()
        assert f"run {alive} died in {STEP}" in log.read_text()
        assert runs(instance)[alive] == "FAILURE"


def test_a_slot_held_by_a_run_started_elsewhere_is_never_freed(tmp_path, home):
    """No lock file here for the holder (another state folder or machine): judged alive, named."""
    first, _ = start(tmp_path, "first", hold_s=600)
    wait_until((tmp_path / "first.holding").exists, "the first run holds the slot", first)
    with dg.DagsterInstance.get() as instance:
        (holder_id,) = holders(instance)
        (home / "locks" / "runs" / f"{holder_id}.lock").unlink()   # as seen from another state folder
        first.send_signal(signal.SIGKILL)
        first.wait()
        second, log = start(tmp_path, "second", hold_s=0)
        wait_until(lambda: "not started from this state folder" in log.read_text(), "the warning", second)
        time.sleep(2)
        assert holders(instance) == [holder_id] and not (tmp_path / "second.holding").exists()
        second.send_signal(signal.SIGKILL)
        second.wait()


if __name__ == "__main__":
    holder(*sys.argv[1:])
