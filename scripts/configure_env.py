"""Give the project's virtualenv its defaults, so that with it active
``dagster job execute -j full_viss_r1`` works as typed from the repo root.

Writes a ``.pth`` file into the venv's site-packages: Python runs its ``import`` line at start-up
and sets, only where the user has not, the Dagster CLI's module (``-m pipelines``), a persistent
``DAGSTER_HOME`` (so CLI runs show up in ``dagster dev`` and staleness works) and the state folder.
"""

from __future__ import annotations

import argparse
import shutil
import sysconfig
from pathlib import Path

PTH_NAME = "viss_r1_defaults.pth"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", required=True, help="folder for Dagster home, artifacts and MLflow")
    args = parser.parse_args()
    state = Path(args.state).resolve()
    dagster_home = state / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance = dagster_home / "dagster.yaml"
    if not instance.exists():
        shutil.copy(Path(__file__).resolve().parent.parent / "infra" / "dagster.yaml", instance)
    defaults = {
        "DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME": "pipelines",
        "DAGSTER_HOME": str(dagster_home),
        "VISS_R1_STATE_DIR": str(state),
    }
    line = "import os; " + "; ".join(f"os.environ.setdefault({k!r}, {v!r})" for k, v in defaults.items())
    target = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    target.write_text(line + "\n")
    print(f"wrote {target}: {', '.join(defaults)}")


if __name__ == "__main__":
    main()
