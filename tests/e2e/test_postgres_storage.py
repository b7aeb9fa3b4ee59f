"""The Video-R1 baseline job from the CLI with Dagster's run, event and schedule storage in
PostgreSQL (infra/dagster-postgres.yaml), a real server on loopback, and with the README's
`rewards: {temporal: true}` in its run config (T-GRPO): the GRPO stage logs the temporal reward to
MLflow. One job run serves both, since each costs minutes; a smaller run config keeps it short: the
job's stages and assets, fewer clips and steps (pipelines/smoke.py)."""

from __future__ import annotations

import json

import pytest

from .embedded_job import job_environment, run_job
from pipelines.definitions import defs
from pipelines.smoke import SMOKE_STEPS, smoke_run_config
from .postgres_server import postgres_server

JOB = "video_r1_baseline"
MODEL = "grpo_baseline_model"
STEPS = SMOKE_STEPS["max_steps"]


def t_grpo_run_config() -> dict:
    """The job's smoke config with T-GRPO switched on. Two GRPO steps may well have no reward
    spread: the check of that is not what this tests."""
    config = smoke_run_config(set(defs.resolve_job_def(JOB).graph.node_dict))
    config["ops"][MODEL]["config"] = {**config["ops"][MODEL]["config"], "rewards": {"temporal": True}}
    return config


def assert_t_grpo_logged_the_temporal_reward(state) -> None:
    from mlflow.tracking import MlflowClient

    (result_file,) = (state / "artifacts").glob(f"{MODEL}/*/result.json")
    result = json.loads(result_file.read_text())
    assert result["stage"] == "video_r1_grpo" and result["global_step"] == STEPS and result["kl_in_loss"] is True
    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name.endswith(JOB)]
    (run,) = client.search_runs([experiment.experiment_id],
                                f"tags.`viss_r1.stage` = '{MODEL}' and tags.reused = 'False'")
    temporal = client.get_metric_history(run.info.run_id, "rl/reward/temporal_bonus")
    assert len(temporal) == STEPS and all(0.0 <= m.value <= 0.3 for m in temporal), temporal
    for name in ("rl/reward", "rl/reward/accuracy", "rl/reward/format", "rl/reward/length_bonus", "rl/kl"):
        assert len(client.get_metric_history(run.info.run_id, name)) == STEPS, name
    # The stage's params carry the switch; the other reward settings stay the stage's (null).
    assert run.data.params["rewards.temporal"] == "true" and run.data.params["rewards.gated"] == "null"


def stage_runs(state, reused: bool) -> list[str]:
    """The stages of the job's MLflow runs that built (``reused=False``) or reused their artifact."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name.endswith(JOB)]
    runs = client.search_runs([experiment.experiment_id], f"tags.reused = '{reused}'", max_results=1000)
    return [run.data.tags["viss_r1.stage"] for run in runs]


@pytest.mark.slow
def test_t_grpo_job_runs_with_dagster_storage_in_postgresql(tmp_path):
    state, env, run_config = job_environment(tmp_path, "dagster-postgres.yaml", t_grpo_run_config())
    home = state / "dagster_home"
    with postgres_server() as postgres:
        env.update(postgres.env())
        run_job(env, JOB, run_config=run_config, timeout=1500)
        assert postgres.query("select status from runs") == "SUCCESS"
        materialized = postgres.query("select count(distinct asset_key) from event_logs "
                                      "where dagster_event_type = 'ASSET_MATERIALIZATION'")
        job_assets = postgres.query("select count(*) from asset_keys")
        assert int(materialized) >= 14 and materialized == job_assets, (materialized, job_assets)
        assert_t_grpo_logged_the_temporal_reward(state)

        # The leaderboard finds each evaluation's newest score through the instance: here, PostgreSQL.
        run_job(env, JOB, run_config=run_config, timeout=1200)
        built, reused = stage_runs(state, reused=False), stage_runs(state, reused=True)
        assert built and sorted(reused) == sorted(built), (built, reused)   # nothing was built twice
        assert postgres.query("select string_agg(status, ',') from runs") == "SUCCESS,SUCCESS"
    # Nothing went to SQLite (Dagster still keeps step logs under DAGSTER_HOME/storage).
    assert not list(home.rglob("*.db")) and not (home / "history").exists()
    assert len(list((state / "artifacts" / "leaderboard").glob("*/leaderboard.parquet"))) == 1
