"""A two-asset job on the arms' executor (pipelines/executor.py), for tests/faults/test_side_by_side.py
to run with the Dagster CLI. Each asset claims the ``gpu`` pool as a training does, starts a
stage-like process as the stage launcher would (Pipes marker, launcher pid: it dies with its step
process), records when it held the slot, and holds it ``$SIDE_BY_SIDE_HOLD_S`` seconds."""

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


def hold(name: str) -> None:
    folder, hold_s = Path(os.environ["SIDE_BY_SIDE_DIR"]), float(os.environ["SIDE_BY_SIDE_HOLD_S"])
    started = time.time()
    env = {**os.environ, DAGSTER_PIPES_CONTEXT_ENV_VAR: "unread", **launcher_env()}
    stage = subprocess.Popen([sys.executable, "-c", STAGE, str(folder / f"{name}.stage")], env=env, cwd=REPO)
    written(folder / f"{name}.step", str(os.getpid()))
    time.sleep(hold_s)
    stage.terminate()
    stage.wait()
    written(folder / f"{name}.held", f"{started} {time.time()}")


@dg.asset(pool="gpu")
def left(stage_launcher: StageLauncher) -> None:
    hold("left")


@dg.asset(pool="gpu")
def right(stage_launcher: StageLauncher) -> None:
    hold("right")


defs = dg.Definitions(
    assets=[left, right],
    jobs=[dg.define_asset_job("both", executor_def=side_by_side_executor)],
    resources={"stage_launcher": StageLauncher(pool_check_interval_s=1.0)},
)
