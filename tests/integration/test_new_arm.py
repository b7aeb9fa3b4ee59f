"""A fourth arm is one ``Arm`` entry plus a run config: ViSS-R1 trained on the arrow transform only,
without the length bonus, added beside the registered arms and run on the tiny model — its own
GRPO asset, its job, its evaluation and its leaderboard row come from the entry alone."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.definitions import definitions
from viss_r1.stages import ARMS, BASE_MODEL, FORMAT_WARMUP, SSL_COT_SFT, VISS_R1_GRPO, Arm

ARROW_GRPO = VISS_R1_GRPO.model_copy(update={
    "name": "viss_r1_arrow_grpo", "model": "viss_r1_arrow_model",
    "rewards": VISS_R1_GRPO.rewards.model_copy(update={"use_length_bonus": False}),
    "description": "ViSS-R1 RL on the arrow of time alone, no length bonus."})
ARROW_ARM = Arm(name="viss_r1_arrow", stages=(FORMAT_WARMUP, SSL_COT_SFT, ARROW_GRPO),
                scored=(BASE_MODEL, ARROW_GRPO.model), description="ViSS-R1, arrow only, no length bonus.")
SMALL_TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1,
              "vision_depth": 1, "vision_hidden_size": 16, "vision_heads": 1, "vision_pretraining_steps": 0}
EVAL = {"decoding": {"max_new_tokens": 6, "batch_size": 4}, "probes": {"frame_drop": []}}
RUN_CONFIG = {
    # Two RL steps from a two-step SFT prove the arm runs, not that it learns: the learning-signal
    # check would (rightly) stop its model.
    "resources": {"learning_signal": {"config": {"max_fraction_without_signal": 1.0}}},
    "ops": {
        "video_sources": {"config": {"synthetic": {"num_train": 4, "num_eval": 2}}},
        # The run config's half of the arm: its RL table draws the arrow alone.
        "pretext_samples": {"config": {"video_questions": {"video_transforms": ["arrow"]}}},
        "base_model": {"config": {"tiny": SMALL_TINY}},
        "instruct_model": {"config": {"training": {"max_steps": 1, "per_device_train_batch_size": 2, "save_steps": 2}}},
        "sft_model": {"config": {"training": {"max_steps": 2, "per_device_train_batch_size": 2, "save_steps": 2}}},
        "viss_r1_arrow_model": {"config": {"training": {"max_steps": 2, "save_steps": 2},
                                           "rollouts": {"num_generations": 2, "max_completion_length": 8}}},
        **{f"eval__{model}__synthetic": {"config": EVAL} for model in ARROW_ARM.scored},
    },
}


def test_a_fourth_arm_is_one_entry_and_gets_assets_a_job_and_evaluation():
    defs = definitions({**ARMS, ARROW_ARM.name: ARROW_ARM})
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get(dg.AssetKey(ARROW_GRPO.model)).parent_keys} \
        == {"sft_model", "pretext_samples", "frame_cache"}
    job = defs.resolve_job_def(ARROW_ARM.name)
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert {"base_model", "sft_model", "viss_r1_arrow_model", "eval/viss_r1_arrow_model/synthetic",
            "leaderboard"} <= keys
    assert not keys & {"viss_r1_model", "cot_sft_model", "pretext_grpo_model"}   # no other arm's stages
    assert dg.AssetKey(["eval", "viss_r1_arrow_model", "mvbench"]) in graph.get(dg.AssetKey("leaderboard")).parent_keys
    # The registered arms are unchanged beside it.
    assert {job.name for job in defs.resolve_all_job_defs()} >= {arm.name for arm in ARMS.values()}


@pytest.mark.slow
def test_the_fourth_arm_trains_and_is_scored_on_the_tiny_model(isolated_state):
    defs = definitions({**ARMS, ARROW_ARM.name: ARROW_ARM})
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(ARROW_ARM.name).execute_in_process(run_config=RUN_CONFIG, instance=instance)
        assert result.success
        (event,) = result.asset_materializations_for_node("viss_r1_arrow_model")
        trained = {k: v.value for k, v in event.metadata.items()}
        assert trained["stage"] == "viss_r1_arrow_grpo" and trained["global_step"] == 2
        assert trained["kl_in_loss"] is False   # carried from the ViSS-R1 stage it was copied from
        artifact = Path(trained["model"]).parent
        # What the training process was given: the stage, typed, with its reward settings.
        stage = json.loads((artifact / "result.json").read_text())["stage"]
        assert stage == "viss_r1_arrow_grpo"
        samples = next(isolated_state.glob("artifacts/pretext_samples/*/video_questions.parquet"))
        assert set(pl.read_parquet(samples)["transform_name"]) == {"arrow"}
        (board,) = result.asset_materializations_for_node("leaderboard")
        rows = [record.data["model"] for record in board.metadata["leaderboard"].records]
        assert "viss_r1_arrow_model" in rows and "base_model" in rows
