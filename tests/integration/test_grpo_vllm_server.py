"""GRPO with rollouts on a vLLM server (a stand-in on loopback, ``tests/vllm_stand_in.py``): the
policy's weights reach the server before every rollout step, each prompt is one request for its G
rollouts with its transformed frames, and the returned token ids are what TRL scores and trains on."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer
from vllm_stand_in import StandInServer

from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings
from viss_r1.train.grpo import build_trainer

FAST = dict(learning_rate=1e-3, lr_scheduler_type="constant", bf16=False, activation_checkpointing=False,
            per_device_train_batch_size=2, gradient_accumulation_steps=1, max_grad_norm=1.0, logging_steps=1,
            seed=0, warmup_steps=0.0, max_steps=2, save_steps=100)
# the two rollouts of every group: well-formed and not, so advantages (and the gradient) are not zero
COMPLETIONS = ["<think>The bar fills up.</think><transform>A</transform><answer>B</answer>", "I do not know."]


def grpo_config(tiny_sft, output_dir, url: str) -> GRPORunConfig:
    return GRPORunConfig(stage="viss_r1_grpo", model=str(tiny_sft.model_dir), output_dir=str(output_dir),
                         samples=str(tiny_sft.samples), frame_shards=[str(p) for p in tiny_sft.shard_files],
                         training=OptimSettings(**FAST),
                         grpo=GRPOSettings(num_generations=2, max_completion_length=24, rollout_table_steps=1,
                                           use_vllm=True, vllm_server={"url": url}))


def test_rollouts_come_from_the_server_which_gets_the_policy_before_each_step(tiny_sft, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_sft.model_dir)
    completion_ids = [tokenizer(text, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
                      for text in COMPLETIONS]
    initial = load_file(tiny_sft.model_dir / "model.safetensors")
    served = [{"id": "policy", "root": str(tiny_sft.model_dir)}]

    with StandInServer(served, rollout_ids=lambda parsed, i: completion_ids[i]) as server:
        trainer, _, _ = build_trainer(grpo_config(tiny_sft, tmp_path, server.url))
        trainer.train()

    # weights: pushed before step 0's and step 1's rollouts; the first push is the starting model
    assert len(server.reloads) == 2
    (_, first), (newest_folder, second) = server.reloads
    assert set(first) == set(initial)
    assert all(torch.equal(first[name], initial[name]) for name in initial)
    assert any(not torch.equal(first[name], second[name]) for name in first)   # a trained step in between
    assert [p.name for p in (tmp_path / "vllm_sync").iterdir()] == ["step_0000001"]   # only the newest kept
    assert newest_folder.endswith("step_0000001")

    # rollouts: one request per prompt for its G = 2 completions, with the clip and its timing
    assert len(server.requests) == 4   # 2 steps × 2 prompts
    for request in server.requests:
        body = request.body
        assert (body["model"], body["n"], body["max_tokens"]) == ("policy", 2, 24)
        assert (body["temperature"], body["top_p"]) == (1.0, 0.95)
        vision_ids = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
        assert sorted(int(t) for t in body["logit_bias"]) == sorted(vision_ids)
        assert request.video is not None and len(request.video) == len(request.video_metadata.frames_indices) > 0
        assert "<transform>" in " ".join(request.texts)   # the ViSS-R1 prompt: transform + question
    # the server's ids are what TRL decoded, rewarded (one well-formed rollout of two) and trained on
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    mean_length = sum(map(len, completion_ids)) / 2
    assert all(entry["completions/mean_length"] == mean_length for entry in logs)
    assert all(entry["rewards/transform_format_reward/mean"] == 0.5 for entry in logs)
    assert all(entry["grad_norm"] > 0 for entry in logs)


def test_a_server_without_the_reload_endpoint_says_how_to_start_it(tiny_sft, tmp_path):
    from viss_r1.modeling import vllm_server

    with StandInServer([{"id": str(tiny_sft.model_dir)}]) as server:
        with pytest.raises(vllm_server.ServerError, match="VLLM_SERVER_DEV_MODE=1"):
            vllm_server.reload_weights(vllm_server.VLLMServer(url=server.url + "/nowhere"), str(tmp_path))


def test_use_vllm_without_a_server_is_refused_with_how_to_start_one():
    with pytest.raises(ValueError, match="vllm serve"):
        GRPOSettings(use_vllm=True)
