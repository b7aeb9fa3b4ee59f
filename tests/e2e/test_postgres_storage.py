"""The embedded job from the CLI with Dagster's run, event and schedule storage in PostgreSQL
(infra/dagster-postgres.yaml), a real server on loopback. A smaller run config keeps it to a few
minutes: the same stages and assets as the README's run, fewer clips and steps."""

from __future__ import annotations

import pytest

from .embedded_job import job_environment, run_job
from .postgres_server import postgres_server

# The ViSS-R1 arm's job, smaller: 24 + 6 clips, 4 warm-up and 8 SFT steps, 2 RL steps, short
# answers. Two RL steps may well have no reward spread: the check of that is not what this tests.
EVAL_OPS = ["eval__base_model__synthetic", "eval__sft_model__synthetic", "eval__viss_r1_model__synthetic"]
SMALL_RUN = {
    "ops": {
        "video_sources": {"config": {"synthetic": {"num_train": 24, "num_eval": 6}}},
        "base_model": {"config": {"tiny": {"vision_pretraining_steps": 4, "vision_pretraining_clips": 4}}},
        "instruct_model": {"config": {"training": {"max_steps": 4}}},
        "sft_model": {"config": {"training": {"max_steps": 8}}},
        "viss_r1_model": {"config": {"training": {"max_steps": 2}}},
        **{op: {"config": {"decoding": {"max_new_tokens": 48}}} for op in EVAL_OPS},
    },
    "resources": {"learning_signal": {"config": {"max_fraction_without_signal": 1.0}}},
}
JOB = "viss_r1_arm"


@pytest.mark.slow
def test_the_embedded_job_runs_with_dagster_storage_in_postgresql(tmp_path):
    state, env, run_config = job_environment(tmp_path, "dagster-postgres.yaml", SMALL_RUN)
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
