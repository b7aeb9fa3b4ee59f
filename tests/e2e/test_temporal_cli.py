"""The README's `rewards: {temporal: true}` from the CLI: the Video-R1 baseline job, small, with
T-GRPO switched on in its run config; the GRPO stage logs the temporal reward to MLflow."""

from __future__ import annotations

import json

import pytest

from .embedded_job import job_environment, run_job
from pipelines.definitions import defs
from pipelines.smoke import SMOKE_STEPS, smoke_run_config

JOB = "video_r1_baseline"
MODEL = "grpo_baseline_model"
STEPS = SMOKE_STEPS["max_steps"]


def t_grpo_run_config() -> dict:
    """The job's smoke config (pipelines/smoke.py) with T-GRPO switched on. Two GRPO steps may well
    have no reward spread: the check of that is not what this tests."""
    config = smoke_run_config(set(defs.resolve_job_def(JOB).graph.node_dict))
    config["ops"][MODEL]["config"] = {**config["ops"][MODEL]["config"], "rewards": {"temporal": True}}
    return config


@pytest.mark.slow
def test_t_grpo_from_the_run_config_logs_the_temporal_reward(tmp_path):
    from mlflow.tracking import MlflowClient

    state, env, run_config = job_environment(tmp_path, "dagster.yaml", t_grpo_run_config())
    run_job(env, JOB, run_config, timeout=1500)

    (result_file,) = (state / "artifacts").glob(f"{MODEL}/*/result.json")
    result = json.loads(result_file.read_text())
    assert result["stage"] == "video_r1_grpo" and result["global_step"] == STEPS and result["kl_in_loss"] is True
    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name.endswith(JOB)]
    (run,) = client.search_runs([experiment.experiment_id], f"tags.`viss_r1.stage` = '{MODEL}'")
    temporal = client.get_metric_history(run.info.run_id, "rl/reward/temporal_bonus")
    assert len(temporal) == STEPS and all(0.0 <= m.value <= 0.3 for m in temporal), temporal
    for name in ("rl/reward", "rl/reward/accuracy", "rl/reward/format", "rl/reward/length_bonus", "rl/kl"):
        assert len(client.get_metric_history(run.info.run_id, name)) == STEPS, name
    # The stage's params carry the switch; the other reward settings stay the stage's (null).
    assert run.data.params["rewards.temporal"] == "true" and run.data.params["rewards.gated"] == "null"
