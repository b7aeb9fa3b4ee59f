"""The embedded job from the CLI with Dagster's run, event and schedule storage in PostgreSQL
(infra/dagster-postgres.yaml), a real server on loopback. A smaller run config keeps it to a few
minutes: the same stages and assets as the README's run, fewer clips and steps (pipelines/smoke.py)."""

from __future__ import annotations

import pytest

from .embedded_job import job_environment, run_job
from pipelines.definitions import defs
from pipelines.smoke import smoke_run_config
from .postgres_server import postgres_server

JOB = "viss_r1_arm"


@pytest.mark.slow
def test_the_embedded_job_runs_with_dagster_storage_in_postgresql(tmp_path):
    smoke = smoke_run_config(set(defs.resolve_job_def(JOB).graph.node_dict))
    state, env, run_config = job_environment(tmp_path, "dagster-postgres.yaml", smoke)
    home = state / "dagster_home"
    with postgres_server() as postgres:
        env.update(postgres.env())
        first = run_job(env, JOB, run_config=run_config, timeout=1200)
        assert "building artifact" in first
        assert postgres.query("select status from runs") == "SUCCESS"
        materialized = postgres.query("select count(distinct asset_key) from event_logs "
                                      "where dagster_event_type = 'ASSET_MATERIALIZATION'")
        job_assets = postgres.query("select count(*) from asset_keys")
        assert int(materialized) >= 14 and materialized == job_assets, (materialized, job_assets)

        # The leaderboard finds each evaluation's newest score through the instance: here, PostgreSQL.
        second = run_job(env, JOB, run_config=run_config, timeout=1200)
        # the thirteen assets and the synthetic video set inside video_sources
        assert second.count("exists, reusing it") == 14 and "building artifact" not in second
        assert postgres.query("select string_agg(status, ',') from runs") == "SUCCESS,SUCCESS"
    # Nothing went to SQLite (Dagster still keeps step logs under DAGSTER_HOME/storage).
    assert not list(home.rglob("*.db")) and not (home / "history").exists()
    assert len(list((state / "artifacts" / "leaderboard").glob("*/leaderboard.parquet"))) == 1
