"""A two-asset job on the arms' executor (pipelines/executor.py), for tests/faults/test_side_by_side.py
to run with the Dagster CLI. Each asset claims the ``gpu`` pool as a training does, starts a
stage-like process as the stage launcher would (Pipes marker, launcher pid: it dies with its step
process), marks itself running, waits up to ``$SIDE_BY_SIDE_WAIT_S`` seconds for the other to be
running too, records whether it was, and holds the slot ``$SIDE_BY_SIDE_HOLD_S`` seconds more."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR

from assets.launcher import StageLauncher
from pipelines.executor import side_by_side_executor
from viss_r1.process import launcher_env

REPO = Path(__file__).resolve().parents[2]
STAGE = ("import os, sys, time; from viss_r1.process import die_with_launcher; die_with_launcher(); "
         "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid())); os.rename(sys.argv[1] + '.tmp', sys.argv[1]); "
         "time.sleep(600)")


def written(path: Path, text: str) -> None:
    path.with_suffix(".tmp").write_text(text)
    os.replace(path.with_suffix(".tmp"), path)   # whole when seen: the test may kill us right after


def hold(name: str, other: str) -> None:
    folder = Path(os.environ["SIDE_BY_SIDE_DIR"])
    wait_s, hold_s = float(os.environ["SIDE_BY_SIDE_WAIT_S"]), float(os.environ["SIDE_BY_SIDE_HOLD_S"])
    env = {**os.environ, DAGSTER_PIPES_CONTEXT_ENV_VAR: "unread", **launcher_env()}
    stage = subprocess.Popen([sys.executable, "-c", STAGE, str(folder / f"{name}.stage")], env=env, cwd=REPO)
    written(folder / f"{name}.step", str(os.getpid()))
    running = folder / f"{name}.running"
    running.write_text("")
    deadline = time.monotonic() + wait_s
    while not (folder / f"{other}.running").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    together = (folder / f"{other}.running").exists()
    time.sleep(hold_s)
    running.unlink()
    stage.terminate()
    stage.wait()
    written(folder / f"{name}.together", str(together))


@dg.asset(pool="gpu")
def left(stage_launcher: StageLauncher) -> None:
    hold("left", "right")


@dg.asset(pool="gpu")
def right(stage_launcher: StageLauncher) -> None:
    hold("right", "left")


defs = dg.Definitions(
    assets=[left, right],
    jobs=[dg.define_asset_job("both", executor_def=side_by_side_executor)],
    resources={"stage_launcher": StageLauncher(pool_check_interval_s=1.0)},
)
