"""The main job, run once per session from the CLI in a fresh state folder with the smoke run config
(pipelines/smoke.py: every stage, a minute or two); the CLI test and the browser test both look at
what it left behind. The embedded default's own run (≈20 min) is measured by the benchmarks
(rerun_speedup.py, learning_check.py), not run in the suite."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from .embedded_job import REPO, EmbeddedJob, run_job
from pipelines.console import LOG_LEVEL_ENV
from pipelines.definitions import defs
from pipelines.smoke import smoke_run_config

JOB = "full_viss_r1"


@pytest.fixture(scope="session")
def embedded_job(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedJob:
    """The first, cold run of the main job with the smoke config (≈2 min on 2 cores)."""
    state = tmp_path_factory.mktemp("embedded_job") / "state"
    home = state / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "infra" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT")}
    # The module comes from the environment's defaults (make setup), as for a user typing it, and
    # the console is the default one (the test reads it), whatever the caller's shell asks for.
    env.pop("DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME", None)
    env.pop(LOG_LEVEL_ENV, None)
    env.update(DAGSTER_HOME=str(home), VISS_R1_STATE_DIR=str(state))
    run_config = state / "smoke.yaml"
    run_config.write_text(yaml.safe_dump(smoke_run_config(set(defs.resolve_job_def(JOB).graph.node_dict))))
    return EmbeddedJob(state, home, env, run_job(env, JOB, run_config), run_config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Lets a fixture's teardown know that its test failed (the browser test then keeps a
    screenshot of the page as it was)."""
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report
