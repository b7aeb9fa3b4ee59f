"""A stage process launched by Dagster dies with the Dagster process that launched it
(viss_r1.process.die_with_launcher): once that process is killed, the next run frees the dead run's
pool slot and build lock, and an orphan still training would share its work folder with the rerun."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0
STAGE = ("import sys, time; from viss_r1.process import die_with_launcher; die_with_launcher(); "
         "open(sys.argv[1], 'w').write('up'); time.sleep(600)")


def launcher(ready: str, pid_file: str, pipes: str) -> None:
    """Start a stage-like process (as Dagster Pipes would when ``pipes`` is "1"), then wait forever."""
    env = {name: value for name, value in os.environ.items() if name != DAGSTER_PIPES_CONTEXT_ENV_VAR}
    if pipes == "1":
        env[DAGSTER_PIPES_CONTEXT_ENV_VAR] = "unread"   # only its presence marks a Pipes process
    stage = subprocess.Popen([sys.executable, "-c", STAGE, ready], env=env, cwd=REPO)
    Path(pid_file).write_text(str(stage.pid))
    time.sleep(600)


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status   # a zombie nobody reaped has ended


def stage_after_killing_its_launcher(tmp_path: Path, pipes: bool) -> int:
    ready, pid_file = tmp_path / "ready", tmp_path / "stage.pid"
    parent = subprocess.Popen([sys.executable, __file__, str(ready), str(pid_file), "1" if pipes else "0"], cwd=REPO)
    deadline = time.monotonic() + TIMEOUT_S
    while not ready.exists():
        assert parent.poll() is None and time.monotonic() < deadline, "the stage never came up"
        time.sleep(0.05)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    return int(pid_file.read_text())


def test_a_stage_launched_through_pipes_dies_when_its_launcher_is_killed(tmp_path):
    stage = stage_after_killing_its_launcher(tmp_path, pipes=True)
    deadline = time.monotonic() + TIMEOUT_S
    while alive(stage):
        assert time.monotonic() < deadline, f"stage {stage} still runs {TIMEOUT_S:.0f} s after its launcher died"
        time.sleep(0.1)


def test_a_stage_run_by_hand_outlives_its_launcher(tmp_path):
    """Without Pipes (a stage run from a shell) nothing changes: the request is Dagster's only."""
    stage = stage_after_killing_its_launcher(tmp_path, pipes=False)
    try:
        time.sleep(1.0)
        assert alive(stage)
    finally:
        os.kill(stage, signal.SIGKILL)


if __name__ == "__main__":
    launcher(*sys.argv[1:])
