"""The README's command, as typed, in a fresh state folder: the whole embedded default."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def run_job(env: dict) -> str:
    done = subprocess.run([DAGSTER, "job", "execute", "-j", "full_viss_r1"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "RUN_SUCCESS" in output
    return output


@pytest.mark.slow
def test_full_job_runs_from_the_cli_then_reuses_everything(tmp_path):
    state = tmp_path / "state"
    home = state / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "infra" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT")}
    # The module comes from the environment's defaults (make setup), as for a user typing it.
    env.pop("DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME", None)
    env.update(DAGSTER_HOME=str(home), VISS_R1_STATE_DIR=str(state))

    first = run_job(env)
    assert "building artifact" in first and "reusing" not in first
    artifacts = state / "artifacts"
    (rl_table,) = artifacts.glob("pretext_samples/*/viss_r1_rl.parquet")
    rl = pl.read_parquet(rl_table)
    assert len(rl) == 300 and set(rl["transform_name"]) == {"rotate", "arrow", "shuffle"}
    (catalog,) = artifacts.glob("video_catalog/*/catalog.parquet")
    assert pl.read_parquet(catalog)["status"].to_list() == ["ok"] * 300
    assert (state / "mlflow.db").is_file()

    second = run_job(env)
    assert second.count("exists, reusing it") == 4 and "building artifact" not in second
    assert len(list((home / "storage").iterdir())) >= 2  # both runs recorded in the persistent instance
