"""The README's command, as typed, in a fresh state folder: the whole embedded default.

The first run is the session fixture ``embedded_job`` (tests/e2e/conftest.py), shared with the
browser test; this test checks what it built, then runs the job again."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from .embedded_job import EmbeddedJob, run_job
from viss_r1.embedded import EMBEDDED_GRPO, EMBEDDED_SFT
from viss_r1.evaluate.probes import chance


@pytest.mark.slow
def test_full_job_runs_from_the_cli_then_reuses_everything(embedded_job: EmbeddedJob):
    state, home, env, first = embedded_job.state, embedded_job.dagster_home, embedded_job.env, embedded_job.first_output
    assert "building artifact" in first and "reusing" not in first
    artifacts = state / "artifacts"
    (rl_table,) = artifacts.glob("pretext_samples/*/video_questions.parquet")
    rl = pl.read_parquet(rl_table)
    assert len(rl) == 240 and set(rl["transform_name"]) == {"rotate", "arrow", "shuffle"}  # the 60 eval clips held out
    (catalog,) = artifacts.glob("video_catalog/*/catalog.parquet")
    assert pl.read_parquet(catalog)["status"].to_list() == ["ok"] * 300
    assert (state / "mlflow.db").is_file()
    (sft_result,) = artifacts.glob("sft_model/*/result.json")
    sft = json.loads(sft_result.read_text())
    assert sft["samples"] == 240 * 6 and sft["last_loss"] < 0.2 * sft["first_loss"], sft["losses"]  # 6 draws a clip
    (weights,) = artifacts.glob("sft_model/*/model/model.safetensors")
    assert f"step {SFT_STEPS}/{SFT_STEPS}" in first  # step metrics streamed back through Pipes
    assert_sft_run_in_mlflow(state)
    (rl_result,) = artifacts.glob("viss_r1_model/*/result.json")
    rl_run = json.loads(rl_result.read_text())
    assert rl_run["stage"] == "viss_r1_grpo" and rl_run["global_step"] == EMBEDDED_GRPO.max_steps
    assert rl_run["kl_in_loss"] is False and len(rl_run["rewards"]) == EMBEDDED_GRPO.max_steps
    (rl_weights,) = artifacts.glob("viss_r1_model/*/model/model.safetensors")
    assert_rl_run_in_mlflow(state)
    assert_leaderboard_of_the_arm(artifacts)
    assert "VSI-Bench: no eval file configured; not evaluated" in first  # said, not failed
    assert not list(artifacts.glob("eval/*/vsi_bench"))                   # not configured: nothing made

    second = run_job(env)
    # the synthetic video set, data plane 4, base, warm-up, SSL-CoT SFT, ViSS-R1 RL, Pretext-GRPO
    # stages I and II, the synthetic benchmark, four evaluations, the leaderboard
    assert second.count("exists, reusing it") == 17 and "building artifact" not in second
    assert len(list((home / "storage").iterdir())) >= 2  # both runs recorded in the persistent instance


def assert_leaderboard_of_the_arm(artifacts: Path) -> None:
    """The base model and both methods' models scored on the synthetic eval split under every
    probe; the leaderboard lists them with the robustness columns."""
    (board_file,) = artifacts.glob("leaderboard/*/leaderboard.parquet")
    board = pl.read_parquet(board_file)
    assert board["model"].to_list() == list(SCORED)
    assert board["Synthetic"].null_count() == 0 and board["VSI-Bench"].null_count() == 4   # not configured: a dash
    for column in ("Synthetic blind", "Synthetic no video", "Synthetic visual reliance",
                   "Synthetic visual reliance (no video)", "Synthetic transformed", "Synthetic pretext acc.",
                   "Synthetic format", "Synthetic blind format", "Synthetic no video format", "Synthetic drop 50%"):
        assert board[column].null_count() == 0, column
    for model in SCORED:
        (results,) = artifacts.glob(f"eval/{model}/synthetic/*/results.parquet")
        table = pl.read_parquet(results)
        assert len(table) == 60 * 5 and set(table["status"]) == {"ok"}, model   # 60 clips × 5 conditions
    # Both models of the ViSS-R1 arm name the transform of held-out clips well above chance: one
    # over the options of each clip's drawn transform (arrow 2, rotate 4, shuffle more), ≈30 %.
    for row, model in enumerate(SCORED):
        if model in ("sft_model", "viss_r1_model"):
            (results,) = artifacts.glob(f"eval/{model}/synthetic/*/results.parquet")
            drawn = pl.read_parquet(results).filter(pl.col("condition") == "transformed")["transform"]
            guess = 100 * sum(chance("video", name) for name in drawn) / len(drawn)
            trained = board.row(row, named=True)
            assert trained["Synthetic pretext acc."] > 1.5 * guess, (trained, guess)


SCORED = ("base_model", "sft_model", "viss_r1_model", "pretext_grpo_stage2_model")
SFT_STEPS = int(240 * 6 * EMBEDDED_SFT.num_train_epochs / EMBEDDED_SFT.per_device_train_batch_size)


def experiment_of(client):
    (experiment,) = [e for e in client.search_experiments() if e.name.endswith("full_viss_r1")]
    return experiment


def assert_rl_run_in_mlflow(state: Path) -> None:
    """The ViSS-R1 RL run logs every reward component, the KL and sample rollouts."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    experiment = experiment_of(client)
    (run,) = client.search_runs([experiment.experiment_id], "tags.`viss_r1.stage` = 'viss_r1_model'")
    for name in ("rl/reward", "rl/reward_std", "rl/kl", "rl/reward/transform", "rl/reward/accuracy",
                 "rl/reward/format", "rl/completion_length", "rl/frac_groups_zero_reward_std"):
        assert len(client.get_metric_history(run.info.run_id, name)) == EMBEDDED_GRPO.max_steps, name
    tables = [a.path for a in client.list_artifacts(run.info.run_id, "rollouts")]
    assert len(tables) == EMBEDDED_GRPO.max_steps // 10, tables
    # the warm-up, SSL-CoT SFT, ViSS-R1 RL and both Pretext-GRPO stages
    assert len(client.search_logged_models(experiment_ids=[experiment.experiment_id])) == 5


def assert_sft_run_in_mlflow(state: Path) -> None:
    """The SFT stage's nested run holds its step metrics and its checkpoint as a logged model."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    experiment = experiment_of(client)
    (run,) = client.search_runs([experiment.experiment_id], "tags.`viss_r1.stage` = 'sft_model'")
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert len(losses) == SFT_STEPS // EMBEDDED_SFT.logging_steps and losses[-1].value < losses[0].value
    assert client.get_metric_history(run.info.run_id, "train/tokens_per_second")
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    (model,) = [m for m in models if m.source_run_id == run.info.run_id]
    assert model.status == "READY"
