"""A stage process launched by Dagster dies with the Dagster process that launched it
(viss_r1.process.die_with_launcher): once that process is killed, the next run frees the dead run's
pool slot and build lock, and an orphan still training would share its work folder with the rerun.
A multi-process stage's launcher tool (torchrun here; accelerate alike) is started through
viss_r1.exec_with_launcher, so it dies too, and its ranks with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR

from assets.launcher import StageLauncher
from viss_r1.process import LAUNCHER_PID_ENV, launcher_env

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0
# The stage (or a rank of it) asks to die with its launcher, as viss_r1.process.command_line does,
# then says it is up by writing its pid.
STAGE = ("import os, sys, time; from viss_r1.process import die_with_launcher; die_with_launcher(); "
         "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid())); os.rename(sys.argv[1] + '.tmp', sys.argv[1]); "
         "time.sleep(600)")
# A real stage imports torch and its trainer before it asks: seconds, more on a busy machine.
SLOW_START_S = 3.0
SLOW_STAGE = f"import time; time.sleep({SLOW_START_S}); " + STAGE
SLOW_MODES = ("pipes, slow start", "pipes, slow start, launcher not named")


def stage_command(how: str, ready: str) -> list[str]:
    if how in ("pipes", "pipes, SIGTERM ignored", "by hand"):
        return [sys.executable, "-c", STAGE, ready]
    if how in SLOW_MODES:
        return [sys.executable, "-c", SLOW_STAGE, ready]
    rank_script = Path(ready).parent / "rank.py"
    rank_script.write_text(STAGE)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                str(rank_script), ready]
    # What assets.launcher runs for a torchrun stage, or the tool started bare (as before the guard).
    return StageLauncher(launcher="torchrun").dying_with_dagster(torchrun) if how == "torchrun" else torchrun


def launcher(ready: str, pid_file: str, how: str) -> None:
    """Start a stage-like process (as Dagster Pipes would, unless ``how`` is "by hand"), then wait forever."""
    env = {name: value for name, value in os.environ.items() if name != DAGSTER_PIPES_CONTEXT_ENV_VAR}
    if how != "by hand":
        env[DAGSTER_PIPES_CONTEXT_ENV_VAR] = "unread"   # only its presence marks a Pipes process
    if how not in ("by hand", "torchrun bare", "pipes, slow start, launcher not named"):
        env.update(launcher_env())   # as the local StageLauncher does
    if how == "pipes, SIGTERM ignored":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # inherited through exec, as from a supervisor that ignores it
    stage = subprocess.Popen(stage_command(how, ready), env=env, cwd=REPO)
    Path(pid_file + ".tmp").write_text(str(stage.pid))
    os.rename(pid_file + ".tmp", pid_file)   # whole when seen: the test may kill us right after
    time.sleep(600)


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status   # a zombie nobody reaped has ended


def after_killing_the_launcher(tmp_path: Path, how: str) -> tuple[int, int]:
    """Kill (SIGKILL) the process that started the stage once the stage is up; return the pid of
    the process it started (the stage, or the launcher tool) and the pid of the stage (or rank)."""
    ready, pid_file = tmp_path / "ready", tmp_path / "stage.pid"
    parent = start_launcher(ready, pid_file, how)
    wait_for(ready, parent)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    return int(pid_file.read_text()), int(ready.read_text())


def killing_the_launcher_while_the_stage_starts(tmp_path: Path, how: str) -> int:
    """Kill the launcher as soon as it has started the stage, before the stage has asked to die with
    it (the stage sleeps first, as a real one imports); return the stage's pid."""
    ready, pid_file = tmp_path / "ready", tmp_path / "stage.pid"
    parent = start_launcher(ready, pid_file, how)
    wait_for(pid_file, parent)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert not ready.exists(), "the stage asked before the launcher was killed: the test shows nothing"
    return int(pid_file.read_text())


def start_launcher(ready: Path, pid_file: Path, how: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, str(ready), str(pid_file), how], cwd=REPO)


def wait_for(path: Path, parent: subprocess.Popen | None = None) -> None:
    """Until ``path`` exists; fail if ``parent`` (when given) ends first or after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    while not path.exists():
        assert (parent is None or parent.poll() is None) and time.monotonic() < deadline, \
            f"{path.name} never appeared"
        time.sleep(0.05)


def wait_until_gone(*pids: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, \
            f"still running {TIMEOUT_S:.0f} s after the launcher died: {[pid for pid in pids if alive(pid)]}"
        time.sleep(0.1)


def test_a_stage_launched_through_pipes_dies_when_its_launcher_is_killed(tmp_path):
    started, stage = after_killing_the_launcher(tmp_path, "pipes")
    assert started == stage
    wait_until_gone(stage)


def test_a_stage_dies_with_its_launcher_even_if_it_inherited_an_ignored_sigterm(tmp_path):
    started, stage = after_killing_the_launcher(tmp_path, "pipes, SIGTERM ignored")
    assert started == stage
    wait_until_gone(stage)


def test_a_stage_dies_even_if_its_launcher_died_before_it_asked(tmp_path):
    """Dagster killed while the stage still imports: by the time the stage asks, its parent is a
    reaper, and only the launcher's pid in its environment shows that the launcher is gone."""
    stage = killing_the_launcher_while_the_stage_starts(tmp_path, "pipes, slow start")
    wait_until_gone(stage)
    assert not (tmp_path / "ready").exists()   # it ended in die_with_launcher, before its work


def test_without_the_launchers_pid_a_stage_that_asks_late_runs_on(tmp_path):
    """The fault the launcher's pid is for: a stage that finds a reaper as its parent takes it for
    its launcher, asks to die with it, and trains on alone."""
    stage = killing_the_launcher_while_the_stage_starts(tmp_path, "pipes, slow start, launcher not named")
    try:
        wait_for(tmp_path / "ready")
        assert alive(stage)
    finally:
        os.kill(stage, signal.SIGKILL)


def test_the_local_launcher_names_itself_to_the_stage(monkeypatch):
    from faults.test_pipes_messages import local_launch   # here: this file also runs as the launcher script

    assert local_launch(monkeypatch)["env"][LAUNCHER_PID_ENV] == str(os.getpid())


def test_a_stage_run_by_hand_outlives_its_launcher(tmp_path):
    """Without Pipes (a stage run from a shell) nothing changes: the request is Dagster's only."""
    _, stage = after_killing_the_launcher(tmp_path, "by hand")
    try:
        time.sleep(1.0)
        assert alive(stage)
    finally:
        os.kill(stage, signal.SIGKILL)


def test_a_torchrun_stage_dies_with_dagster_tool_and_ranks(tmp_path):
    tool, rank = after_killing_the_launcher(tmp_path, "torchrun")
    assert tool != rank
    wait_until_gone(tool, rank)


def test_a_bare_torchrun_outlives_dagster_which_the_guard_is_for(tmp_path):
    """The fault the guard exists for: started bare, torchrun's launcher runs on after Dagster dies
    (its rank dies with the tool, once the tool is gone)."""
    tool, rank = after_killing_the_launcher(tmp_path, "torchrun bare")
    try:
        time.sleep(2.0)
        assert alive(tool) and alive(rank)
    finally:
        os.kill(tool, signal.SIGKILL)
    wait_until_gone(rank)


if __name__ == "__main__":
    launcher(*sys.argv[1:])
