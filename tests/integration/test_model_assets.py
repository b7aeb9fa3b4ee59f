"""base_model, sft_model, viss_r1_model and cot_annotations materialized in-process: the training process is
launched through Pipes, results come back, and the cache decides what reruns."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from asset_runs import materialize_assets, metadata

from assets.references import REFERENCE_CODE, checkpoint_digest
from pipelines.definitions import all_assets
from viss_r1.artifacts import cache_key
from viss_r1.data.pretext_samples import COT_TABLE, PretextSettings

ASSETS = all_assets()
SMALL_TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1,
              "vision_depth": 1, "vision_hidden_size": 16, "vision_heads": 1,
              # the pretraining runs, briefly: the asset path is covered, the learning is a unit test's
              "vision_pretraining_steps": 3, "vision_pretraining_clips": 4, "vision_pretraining_batch_size": 2}


def run_config(max_steps: int = 4, annotate: bool = False) -> dict:
    ops = {
        "video_sources": {"config": {"synthetic": {"num_train": 6, "num_eval": 2}}},
        "base_model": {"config": {"tiny": SMALL_TINY}},
        "instruct_model": {"config": {"training": {"max_steps": 2, "per_device_train_batch_size": 2, "save_steps": 2}}},
        "sft_model": {"config": {"training": {"max_steps": max_steps, "per_device_train_batch_size": 2,
                                              "save_steps": 2, "logging_steps": 1}}},
        "viss_r1_model": {"config": {"training": {"max_steps": 2, "save_steps": 2},
                                     "rollouts": {"num_generations": 2, "max_completion_length": 8,
                                                  "rollout_table_steps": 1}}},
    }
    if annotate:
        ops["cot_annotations"] = {"config": {"annotator": "", "max_new_tokens": 24, "batch_size": 4}}
    return {"ops": ops}


def materialize(selection: list[str], config: dict, instance) -> dg.ExecuteInJobResult:
    return materialize_assets(ASSETS, config, instance, selection=selection)


@pytest.mark.slow
def test_models_build_train_reuse_and_retrain_only_what_changed(isolated_state):
    training = ["video_sources", "video_catalog", "frame_cache", "pretext_samples", "base_model", "instruct_model",
                "sft_model", "viss_r1_model"]
    with dg.instance_for_test() as instance:
        first = materialize(training, run_config(), instance)
        base, sft = metadata(first, "base_model"), metadata(first, "sft_model")
        assert not base["reused"] and not sft["reused"]
        assert Path(base["model"], "config.json").is_file() and Path(sft["model"], "model.safetensors").is_file()
        draws = next(use.draws for use in PretextSettings().uses if use.name == COT_TABLE)  # rows per clip
        assert sft["global_step"] == 4 and sft["samples"] == 6 * draws
        rl_model = metadata(first, "viss_r1_model")
        assert not rl_model["reused"] and rl_model["global_step"] == 2 and rl_model["stage"] == "viss_r1_grpo"
        assert Path(rl_model["model"], "model.safetensors").is_file() and rl_model["kl_in_loss"] is False
        assert not list((isolated_state / "work" / "sft_model").glob("*/checkpoints"))  # cleaned once published

        # A store of decoded clips changes no result: another size reuses the model.
        other_store = run_config()
        other_store["ops"]["sft_model"]["config"]["decoded_clip_memory_mb"] = 0
        again = materialize(training, other_store, instance)
        assert all(metadata(again, name)["reused"] for name in ("base_model", "sft_model", "viss_r1_model"))

        longer = materialize(training, run_config(max_steps=6), instance)
        assert metadata(longer, "base_model")["reused"] and not metadata(longer, "sft_model")["reused"]
        assert metadata(longer, "sft_model")["global_step"] == 6
        assert not metadata(longer, "viss_r1_model")["reused"]  # downstream of the retrained SFT

        config = run_config(annotate=True)
        config["ops"]["cot_annotations"]["config"]["annotator"] = base["model"]
        for op in ("base_model", "instruct_model", "sft_model", "viss_r1_model"):
            del config["ops"][op]
        annotated = materialize(training[:4] + ["cot_annotations"], config, instance)
        cot = metadata(annotated, "cot_annotations")
        assert cot["kept"] + cot["rejected"] == 6 * draws   # every draw of every clip; a random annotator is (rightly) rejected; none lost
        assert json.loads(Path(cot["ssl_cot_file"]).read_text()) == [] or cot["kept"] > 0


@pytest.mark.slow
def test_the_warm_up_trains_a_model_built_here_and_passes_a_checkpoint_through(isolated_state):
    """The shared warm-up is the tiny model's instruction tuning; a checkpoint base (an Instruct
    model) already follows the answer format, so it is published as it is, untrained."""
    selection = ["video_sources", "video_catalog", "frame_cache", "pretext_samples", "base_model", "instruct_model"]
    with dg.instance_for_test() as instance:
        built = materialize(selection, {"ops": {op: value for op, value in run_config()["ops"].items()
                                                if op in selection}}, instance)
        tiny, warmed = metadata(built, "base_model"), metadata(built, "instruct_model")
        assert warmed["global_step"] == 2 and warmed["model"] != tiny["model"]
        assert tiny["vision_pretraining_loss_last"] > 0   # its tower was pretrained before it was saved

        config = {"ops": {op: value for op, value in run_config()["ops"].items() if op in selection}}
        config["ops"]["base_model"] = {"config": {"model": tiny["model"]}}   # a checkpoint folder
        result = materialize(selection, config, instance)
        passed = metadata(result, "instruct_model")
        assert passed["trained"] is False and passed["model"] == tiny["model"]
        # The reference's key follows how a checkpoint is referenced, not the tiny model's code:
        # editing the tiny model must not retrain a 7B run.
        assert metadata(result, "base_model")["cache_key"] == cache_key(
            REFERENCE_CODE, {"model": tiny["model"], "revision": None},
            {"reference": checkpoint_digest(tiny["model"], None)})
        assert "global_step" not in passed
