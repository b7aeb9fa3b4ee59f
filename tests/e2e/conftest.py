"""The embedded job, run once per session from the CLI in a fresh state folder; the CLI test and
the browser test both look at what it left behind."""

from __future__ import annotations

import os
import shutil

import pytest

from .embedded_job import REPO, SCREENSHOTS, EmbeddedJob, run_job


@pytest.fixture(scope="session")
def embedded_job(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedJob:
    """The first, cold run of the embedded default (≈10 min on 2 cores)."""
    state = tmp_path_factory.mktemp("embedded_job") / "state"
    home = state / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "infra" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT")}
    # The module comes from the environment's defaults (make setup), as for a user typing it.
    env.pop("DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME", None)
    env.update(DAGSTER_HOME=str(home), VISS_R1_STATE_DIR=str(state))
    return EmbeddedJob(state, home, env, run_job(env))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Lets a fixture's teardown know that its test failed (the browser test then keeps a
    screenshot of the page as it was)."""
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if SCREENSHOTS:
        terminalreporter.section("browser test screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))
