"""Running the embedded default from the CLI, as the README types it (shared by the e2e tests)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")


def run_job(env: dict) -> str:
    """``dagster job execute -j full_viss_r1``; returns what it printed."""
    done = subprocess.run([DAGSTER, "job", "execute", "-j", "full_viss_r1"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "RUN_SUCCESS" in output
    return output


# Screenshots the browser test took this session; tests/e2e/conftest.py lists them at the end.
SCREENSHOTS: list[Path] = []


@dataclass(frozen=True)
class EmbeddedJob:
    state: Path          # VISS_R1_STATE_DIR: artifacts, mlflow.db
    dagster_home: Path   # DAGSTER_HOME: the persistent instance every run is recorded in
    env: dict            # the environment the job ran in
    first_output: str    # what the first (cold) run printed
