"""Running the embedded default from the CLI, as the README types it (shared by the e2e tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def run_job(env: dict, job: str = "full_viss_r1", run_config: Path | None = None, timeout: int = 1800) -> str:
    """``dagster job execute -j JOB [-c RUN_CONFIG]``; returns what it printed."""
    command = [DAGSTER, "job", "execute", "-j", job] + (["-c", str(run_config)] if run_config else [])
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "RUN_SUCCESS" in output
    return output


def job_environment(tmp_path: Path, instance_file: str, run_config: dict) -> tuple[Path, dict, Path]:
    """A fresh state folder under ``tmp_path`` with ``infra/<instance_file>`` as Dagster's instance,
    the environment a CLI run uses there (local artifacts and MLflow), and the run config written
    to a file: ``(state, env, run_config_file)``."""
    state = tmp_path / "state"
    home = state / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "infra" / instance_file, home / "dagster.yaml")
    config_file = tmp_path / "run_config.yaml"
    config_file.write_text(yaml.safe_dump(run_config))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT")}
    env.update(DAGSTER_HOME=str(home), VISS_R1_STATE_DIR=str(state), DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME="pipelines")
    return state, env, config_file


# The browser test's screenshots and server logs; tests/conftest.py lists this session's screenshots at
# the end (from the folder: under pytest-xdist the test ran in another process).
UI_ARTIFACTS = REPO / "test-artifacts" / "ui"


@dataclass(frozen=True)
class EmbeddedJob:
    state: Path          # VISS_R1_STATE_DIR: artifacts, mlflow.db
    dagster_home: Path   # DAGSTER_HOME: the persistent instance every run is recorded in
    env: dict            # the environment the job ran in
    first_output: str    # what the first (cold) run printed
    run_config: Path     # the run config it ran with
