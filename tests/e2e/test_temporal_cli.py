"""The README's `rewards: {temporal: true}` from the CLI: the Video-R1 baseline job, small, with
T-GRPO switched on in its run config; the GRPO stage logs the temporal reward to MLflow."""

from __future__ import annotations

import json

import pytest

from .embedded_job import job_environment, run_job

# The video_r1_baseline job, small: 24 + 6 clips, 4 warm-up and 8 SFT steps, 2 GRPO steps, short
# answers. Two GRPO steps may well have no reward spread: the check of that is not what this tests.
EVAL_OPS = ["eval__base_model__synthetic", "eval__grpo_baseline_model__synthetic"]
STEPS = 2
SMALL_T_GRPO_RUN = {
    "ops": {
        "video_sources": {"config": {"synthetic": {"num_train": 24, "num_eval": 6}}},
        "base_model": {"config": {"tiny": {"vision_pretraining_steps": 4, "vision_pretraining_clips": 4}}},
        "instruct_model": {"config": {"training": {"max_steps": 4}}},
        "cot_sft_model": {"config": {"training": {"max_steps": 8}}},
        "grpo_baseline_model": {"config": {"rewards": {"temporal": True}, "training": {"max_steps": STEPS},
                                           "rollouts": {"max_completion_length": 48}}},
        **{op: {"config": {"decoding": {"max_new_tokens": 48}}} for op in EVAL_OPS},
    },
    "resources": {"learning_signal": {"config": {"max_fraction_without_signal": 1.0}}},
}


@pytest.mark.slow
def test_t_grpo_from_the_run_config_logs_the_temporal_reward(tmp_path):
    from mlflow.tracking import MlflowClient

    state, env, run_config = job_environment(tmp_path, "dagster.yaml", SMALL_T_GRPO_RUN)
    run_job(env, "video_r1_baseline", run_config, timeout=1500)

    (result_file,) = (state / "artifacts").glob("grpo_baseline_model/*/result.json")
    result = json.loads(result_file.read_text())
    assert result["stage"] == "video_r1_grpo" and result["global_step"] == STEPS and result["kl_in_loss"] is True
    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name.endswith("video_r1_baseline")]
    (run,) = client.search_runs([experiment.experiment_id], "tags.`viss_r1.stage` = 'grpo_baseline_model'")
    temporal = client.get_metric_history(run.info.run_id, "rl/reward/temporal_bonus")
    assert len(temporal) == STEPS and all(0.0 <= m.value <= 0.3 for m in temporal), temporal
    for name in ("rl/reward", "rl/reward/accuracy", "rl/reward/format", "rl/reward/length_bonus", "rl/kl"):
        assert len(client.get_metric_history(run.info.run_id, name)) == STEPS, name
    # The stage's params carry the switch; the other reward settings stay the stage's (null).
    assert run.data.params["rewards.temporal"] == "true" and run.data.params["rewards.gated"] == "null"
