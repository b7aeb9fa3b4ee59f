"""The README's command from the CLI in a fresh state folder: the main job with the smoke run
config (tests/e2e/conftest.py), then the job again, which reuses everything; and the no-config
run's config, which the job must accept as it is.

The first run is the session fixture ``embedded_job``, shared with the browser test; this test
checks what it built. What the embedded default learns is a benchmark's business
(``benchmarks/learning_check.py``, README "Performance"): its run takes ≈24 min."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from .embedded_job import EmbeddedJob, run_job
from pipelines.definitions import defs
from pipelines.smoke import SMOKE_CLIPS, SMOKE_STEPS
from viss_r1.data.pretext_samples import COT_TABLE, PretextSettings
from assets.evaluation import eval_asset_key
from viss_r1.embedded import EMBEDDED_GRPO, EMBEDDED_SFT, EMBEDDED_TINY_MODEL
from viss_r1.stages import FULL_VISS_R1
from viss_r1.synthetic.generate import SyntheticConfig

TRAIN, EVAL = SMOKE_CLIPS["num_train"], SMOKE_CLIPS["num_eval"]
STEPS = SMOKE_STEPS["max_steps"]
COT_DRAWS = next(use.draws for use in PretextSettings().uses if use.name == COT_TABLE)
SCORED = ("base_model", "sft_model", "viss_r1_model", "pretext_grpo_stage2_model")


def test_the_job_takes_no_run_config_and_then_runs_the_embedded_default():
    """`dagster job execute -j full_viss_r1` with no -c: the config resolves, every setting its
    embedded default (tests/unit/test_config_mirrors.py checks every mirror's defaults)."""
    ops = dg.validate_run_config(defs.resolve_job_def("full_viss_r1"), {})["ops"]
    tiny = ops["base_model"]["config"]["tiny"]
    assert tiny == {name: value for name, value in EMBEDDED_TINY_MODEL.model_dump().items() if name in tiny}
    assert tiny["vision_pretraining_steps"] == EMBEDDED_TINY_MODEL.vision_pretraining_steps > 0
    assert ops["sft_model"]["config"]["training"]["learning_rate"] == EMBEDDED_SFT.learning_rate
    assert ops["viss_r1_model"]["config"]["training"]["max_steps"] == EMBEDDED_GRPO.max_steps
    assert ops["video_sources"]["config"]["synthetic"]["num_train"] == SyntheticConfig().num_train


@pytest.mark.slow
def test_full_job_runs_from_the_cli_then_reuses_everything(embedded_job: EmbeddedJob):
    state, home, env, first = embedded_job.state, embedded_job.dagster_home, embedded_job.env, embedded_job.first_output
    assert "building artifact" in first and "reusing" not in first
    artifacts = state / "artifacts"
    (rl_table,) = artifacts.glob("pretext_samples/*/video_questions.parquet")
    rl = pl.read_parquet(rl_table)
    assert len(rl) == TRAIN and set(rl["transform_name"]) <= {"rotate", "arrow", "shuffle"}  # eval clips held out
    (catalog,) = artifacts.glob("video_catalog/*/catalog.parquet")
    assert pl.read_parquet(catalog)["status"].to_list() == ["ok"] * (TRAIN + EVAL)
    assert (state / "mlflow.db").is_file()
    (sft_result,) = artifacts.glob("sft_model/*/result.json")
    sft = json.loads(sft_result.read_text())
    assert sft["samples"] == TRAIN * COT_DRAWS and len(sft["losses"]) == STEPS, sft
    assert all(loss > 0 for _, loss in sft["losses"]), sft["losses"]
    assert artifacts.glob("sft_model/*/model/model.safetensors")
    assert f"step {STEPS}/{STEPS}" in first  # step metrics streamed back through Pipes
    assert_readable_console(first)
    assert_sft_run_in_mlflow(state)
    (rl_result,) = artifacts.glob("viss_r1_model/*/result.json")
    rl_run = json.loads(rl_result.read_text())
    assert rl_run["stage"] == "viss_r1_grpo" and rl_run["global_step"] == STEPS
    assert rl_run["kl_in_loss"] is False and len(rl_run["rewards"]) == STEPS
    (rl_weights,) = artifacts.glob("viss_r1_model/*/model/model.safetensors")
    assert_rl_run_in_mlflow(state)
    assert_leaderboard_of_the_arm(artifacts)
    assert "VSI-Bench: no eval file configured; not evaluated" in first  # said, not failed
    assert not list(artifacts.glob("eval/*/vsi_bench"))                   # not configured: nothing made

    second = run_job(env, "full_viss_r1", embedded_job.run_config)
    # the synthetic video set, data plane 4, base, warm-up, SSL-CoT SFT, ViSS-R1 RL, Pretext-GRPO
    # stages I and II, the synthetic benchmark, four evaluations, the leaderboard
    assert second.count("exists, reusing it") == 17 and "building artifact" not in second
    assert "leaderboard: leaderboard, accuracy in %" in second and " - DEBUG - " not in second   # even when reused
    assert len(list((home / "storage").iterdir())) >= 2  # both runs recorded in the persistent instance


def assert_readable_console(output: str) -> None:
    """What the CLI printed (pipelines/console.py): a progress line per stage process — the key
    metric its stage's (loss, reward, accuracy) — and the leaderboard as a table just before the
    run's end; no Trainer dicts, no Dagster DEBUG events, no per-batch lines."""
    lines = output.splitlines()
    assert not [line for line in lines if line.startswith("{'")], "the Trainer printed its log dicts"
    assert " - DEBUG - " not in output and "STEP_START" not in output and "LOADED_INPUT" not in output
    assert not re.search(r": (clean|blind): \d+/\d+ samples$", output, re.MULTILINE)   # the old line a batch

    def progress(step_key: str, unit: str) -> list[str]:
        return re.findall(rf"^\d\d:\d\d:\d\d {step_key}: ({unit} \d+/\d+ \(\d+%\) · .*)$", output, re.MULTILINE)

    for stage in FULL_VISS_R1.stages:
        shown = progress(stage.model, "step")
        metric = "loss" if stage.trainer == "sft" else "reward"
        assert [line.split(" (")[0] for line in shown] == [f"step {n}/{STEPS}" for n in range(1, STEPS + 1)], shown
        assert all(re.search(rf" · (\d+\.\d+ steps/s|\d+\.\d s/step) · .* · {metric} [-\d.e]+$", line)
                   for line in shown), shown
        assert "done in" in shown[-1], shown
    asked = EVAL * 5   # clips × conditions
    for model in SCORED:
        shown = progress(eval_asset_key(model, "synthetic").to_python_identifier(), "sample")
        assert shown[-1].startswith(f"sample {asked}/{asked} (100%)") and " · frame_drop_0.50 accuracy " in shown[-1]
        assert " · clean accuracy " in shown[0] and len(shown) <= 11, shown
    # the leaderboard, a row per scored model, then the run's end
    start = next(i for i, line in enumerate(lines) if re.match(r"\d\d:\d\d:\d\d leaderboard: leaderboard, ", line))
    assert lines[start + 1].split() == ["model", "Synthetic", "blind", "visual", "reliance", "transformed",
                                        "pretext", "acc.", "format"]
    assert [line.split()[0] for line in lines[start + 2:start + 2 + len(SCORED)]] == list(SCORED)
    assert re.match(r"\d\d:\d\d:\d\d full_viss_r1: RUN_SUCCESS ", lines[start + 2 + len(SCORED)])


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
        assert len(table) == EVAL * 5 and set(table["status"]) == {"ok"}, model   # clips × 5 conditions


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
        assert len(client.get_metric_history(run.info.run_id, name)) == STEPS, name
    tables = [a.path for a in client.list_artifacts(run.info.run_id, "rollouts")]
    assert len(tables) == STEPS, tables   # one rollout table a step (rollout_table_steps: 1)
    # the warm-up, SSL-CoT SFT, ViSS-R1 RL and both Pretext-GRPO stages
    assert len(client.search_logged_models(experiment_ids=[experiment.experiment_id])) == 5


def assert_sft_run_in_mlflow(state: Path) -> None:
    """The SFT stage's nested run holds its step metrics and its checkpoint as a logged model."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    experiment = experiment_of(client)
    (run,) = client.search_runs([experiment.experiment_id], "tags.`viss_r1.stage` = 'sft_model'")
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert len(losses) == STEPS and all(m.value > 0 for m in losses)
    assert client.get_metric_history(run.info.run_id, "train/tokens_per_second")
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    (model,) = [m for m in models if m.source_run_id == run.info.run_id]
    assert model.status == "READY"
