"""Video GRPO runs for real on the tiny model: the video reaches every forward TRL makes, the
ViSS-R1 loss has no KL term while the baseline's has, rewards and metrics come out under the
shared names, and a killed run resumes from its last checkpoint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from console_output import assert_progress_lines_not_trainer_dicts
from viss_r1.modeling.video_inputs import VIDEO_FIELDS
from viss_r1.process import write_config
from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings
from viss_r1.train.grpo import build_trainer, run_grpo
from viss_r1.train.learning_signal import ZERO_SPREAD_RESULT, LearningSignal, result_learning_signal
from viss_r1.train.reporting import step_metrics

FAST = dict(learning_rate=1e-3, lr_scheduler_type="constant", bf16=False, activation_checkpointing=False,
            per_device_train_batch_size=2, gradient_accumulation_steps=1, max_grad_norm=1.0, logging_steps=1,
            seed=0, warmup_steps=0.0)
ROLLOUTS = dict(num_generations=2, max_completion_length=12, rollout_table_steps=1)


def grpo_config(tiny_sft, output_dir: Path, stage: str = "viss_r1_grpo", grpo=None, rewards=None,
                **training) -> GRPORunConfig:
    return GRPORunConfig(stage=stage, model=str(tiny_sft.model_dir), output_dir=str(output_dir),
                         samples=str(tiny_sft.samples), frame_shards=[str(p) for p in tiny_sft.shard_files],
                         rewards=rewards or {},
                         training=OptimSettings(**{**FAST, **training}), grpo=GRPOSettings(**{**ROLLOUTS, **(grpo or {})}))


def test_video_reaches_generation_and_every_log_prob_forward(tiny_sft, tmp_path, capsys):
    seen: list[tuple[bool, set]] = []

    class RecordForwardInputs(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            def record(module, args, kwargs):
                seen.append(("labels" in kwargs, {k for k, v in kwargs.items() if v is not None}))
            model.register_forward_pre_hook(record, with_kwargs=True)

    result = run_grpo(grpo_config(tiny_sft, tmp_path, stage="video_r1_grpo", max_steps=2, save_steps=100),
                      callbacks=[RecordForwardInputs()])
    log_prob_forwards = [fields for scored, fields in seen if scored]
    # Generation (transformers 5.x) encodes the clip before decoding and hands the first forward the
    # encoder outputs and the 3-D mRoPE positions built from the grid and its timing.
    generation_forwards = [fields for scored, fields in seen if not scored]
    assert len(log_prob_forwards) >= 2, seen
    assert all(set(VIDEO_FIELDS) <= fields for fields in log_prob_forwards), log_prob_forwards
    assert any({"mm_encoder_outputs", "mm_token_type_ids", "position_ids"} <= f for f in generation_forwards)
    assert result["global_step"] == 2 and result["stage"] == "video_r1_grpo" and result["kl_in_loss"] is True
    assert (tmp_path / "final" / "model.safetensors").is_file()
    assert_progress_lines_not_trainer_dicts(capsys.readouterr().out, steps=2, metric="reward")


def test_video_changes_the_log_probs_the_loss_uses(tiny_sft, tmp_path):
    """The vision inputs are not merely passed: reversing the clip changes the scored log-probs."""
    trainer, _, rows = build_trainer(grpo_config(tiny_sft, tmp_path, max_steps=1))
    batch = [dict(row) for row in trainer.train_dataset.select(range(2))]
    encoded = trainer.encode_rows(batch)
    ids = torch.tensor([encoded[0].prompt_ids + [1, 2, 3]])
    mask = torch.ones_like(ids)
    trainer._batch_prompts = encoded[:1]
    forward = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, 3)[0]
    reversed_clip = encoded[0].vision["pixel_values_videos"].flip(0)
    trainer._batch_prompts = [type(encoded[0])(encoded[0].prompt_ids, {**encoded[0].vision,
                                                                      "pixel_values_videos": reversed_clip})]
    backward = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, 3)[0]
    assert not torch.allclose(forward, backward)


@pytest.mark.parametrize("stage, kl_in_loss", [("viss_r1_grpo", False), ("video_r1_grpo", True)])
def test_kl_is_in_the_baseline_loss_and_only_logged_for_viss_r1(tiny_sft, tmp_path, stage, kl_in_loss):
    trainer, _, _ = build_trainer(grpo_config(tiny_sft, tmp_path, stage=stage, max_steps=1))
    assert trainer.kl_in_loss is kl_in_loss and trainer.beta == 0.04 and trainer.ref_model is not None
    trainer.model.train()  # metrics go to the "train" log
    trainer.current_gradient_accumulation_steps = 1  # set by train(); the loss is scaled by it
    batch = [trainer.train_dataset[i] for i in (0, 0, 1, 1)]  # two prompts × G = 2
    inputs = trainer._generate_and_score_completions(batch)
    assert inputs["ref_per_token_logps"] is not None
    trainer._metrics["train"].clear()
    loss_near = trainer._compute_loss(trainer.model, inputs)
    far = {**inputs, "ref_per_token_logps": inputs["ref_per_token_logps"] - 2.0}  # a reference far away
    loss_far = trainer._compute_loss(trainer.model, far)
    kls = trainer._metrics["train"]["kl"]
    assert len(kls) == 2 and kls[1] > kls[0] + 0.5  # the KL is measured (and logged) either way
    if kl_in_loss:
        assert loss_far.item() > loss_near.item() + 0.01
    else:
        assert loss_far.item() == pytest.approx(loss_near.item(), abs=1e-7)


def test_rewards_and_pretext_accuracy_are_logged_under_shared_names(tiny_sft, tmp_path):
    logs: list[dict] = []

    class KeepLogs(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                kept.append(dict(logs))

    kept = logs
    rollouts: list[list[dict]] = []
    trainer, reporter, _ = build_trainer(grpo_config(tiny_sft, tmp_path, max_steps=2, save_steps=100),
                                         callbacks=[KeepLogs()])
    trainer.rollout_sink = lambda step, rows: rollouts.append(rows)
    trainer.train()
    metrics = step_metrics(logs[-1])
    for name in ("rl/reward", "rl/reward_std", "rl/frac_groups_zero_reward_std", "rl/kl", "rl/completion_length",
                 "rl/reward/accuracy", "rl/reward/transform", "rl/reward/format", "rl/reward/length_bonus"):
        assert name in metrics, sorted(metrics)
    assert any(name.startswith("rl/pretext_accuracy/") for log in logs for name in step_metrics(log))
    assert len(rollouts) == 2 and len(rollouts[0]) == 4
    row = rollouts[0][0]
    assert {"sample_id", "transform", "transform_letter", "completion", "advantage",
            "reward/accuracy_reward", "reward/transform_reward"} <= set(row)
    assert reporter.rewards and len(reporter.rewards) == 2


def test_the_result_keeps_each_steps_share_of_groups_without_reward_spread(tiny_sft, tmp_path, monkeypatch):
    """Scripted completions (2 prompts × G = 2 per step): a formatted wrong answer scores 1 (format),
    an unformatted one 0, so the groups' spread is known at every step."""
    import viss_r1.train.video_grpo as video_grpo
    from grpo_scripted_rollouts import UNFORMATTED, WRONG, scripted_texts

    script = {0: [UNFORMATTED] * 4,                               # no group has a spread
              1: [WRONG, UNFORMATTED, UNFORMATTED, UNFORMATTED],  # the first group has
              2: [WRONG, UNFORMATTED, WRONG, UNFORMATTED]}        # both have

    class Scripted(video_grpo.VideoGRPOTrainer):
        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                                  has_tool_images=False):
            tokenizer = self.processing_class.tokenizer
            texts = scripted_texts(tokenizer)
            return [tokenizer(texts[kind]).input_ids + [tokenizer.eos_token_id]
                    for kind in script[self.state.global_step]], None

    monkeypatch.setattr(video_grpo, "VideoGRPOTrainer", Scripted)
    run_grpo(grpo_config(tiny_sft, tmp_path, stage="video_r1_grpo", max_steps=3, save_steps=100))
    result = json.loads((tmp_path / "result.json").read_text())
    assert result[ZERO_SPREAD_RESULT] == [[1, 1.0], [2, 0.5], [3, 0.0]]
    assert [reward for _, reward in result["rewards"]] == [0.0, 0.25, 0.5]
    assert result_learning_signal(result) == LearningSignal(steps=3, steps_without_signal=1, mean_reward=0.25)


def test_t_grpo_scores_ordered_rollouts_against_shuffled_frame_rollouts(tiny_sft, tmp_path):
    config = grpo_config(tiny_sft, tmp_path, stage="video_r1_grpo", max_steps=1, grpo={"num_generations": 4},
                         rewards={"temporal": True})
    trainer, _, _ = build_trainer(config)
    assert trainer.temporal_rollouts == 2 and "temporal_reward" in trainer.reward_func_names
    rows = [trainer.train_dataset[i] for i in (0, 0, 0, 0)]
    trainer._add_shuffled_accuracy(rows)
    assert len({row["shuffled_accuracy"] for row in rows}) == 1 and 0.0 <= rows[0]["shuffled_accuracy"] <= 1.0
    trainer.train()
    assert trainer.state.log_history[0]["rewards/temporal_reward/mean"] is not None
    with pytest.raises(ValueError, match="T-GRPO"):  # Pretext-GRPO has no answer to compare
        build_trainer(grpo_config(tiny_sft, tmp_path, stage="pretext_grpo_stage1", rewards={"temporal": True}))


def test_t_grpo_in_the_viss_r1_stage_shuffles_the_transformed_clip_under_the_viss_r1_prompt(
        tiny_sft, tmp_path, monkeypatch):
    """The shuffled-frame rollouts of a ViSS-R1 prompt see what its ordered rollouts see — the
    transformed clip, its frames permuted, and the transform + user question — and are scored on
    their <answer>; the stage then trains with the temporal reward logged."""
    import numpy as np

    config = grpo_config(tiny_sft, tmp_path, max_steps=1, grpo={"num_generations": 4}, rewards={"temporal": True})
    trainer, _, _ = build_trainer(config)
    assert trainer.temporal_rollouts == 2 and "temporal_reward" in trainer.reward_func_names
    rows = [dict(trainer.train_dataset[i]) for i in (0, 0, 0, 0)]
    assert rows[0]["transform_name"] in ("rotate", "arrow", "shuffle")
    (request,) = trainer.prompt_requests(rows).values()
    messages, clip = request
    asked = []

    def right_then_wrong(conversations, media):
        asked.append((conversations, media))
        answer = rows[0]["solution"]
        return [f"<think>t</think><transform>A</transform>{answer if i == 0 else '<answer>Z</answer>'}"
                for i in range(len(conversations))]

    monkeypatch.setattr(trainer, "_sample_shuffled", right_then_wrong)
    trainer._add_shuffled_accuracy(rows)
    monkeypatch.undo()
    ((conversations, media),) = asked
    assert conversations == [messages, messages]
    assert "Transform question:" in str(messages) and "User Question:" in str(messages)
    shuffled = media[0].frames
    order = [next(j for j in range(len(clip.frames)) if np.array_equal(frame, clip.frames[j])) for frame in shuffled]
    assert sorted(order) == list(range(len(clip.frames))) and order != sorted(order)   # a permutation, not the order
    assert [row["shuffled_accuracy"] for row in rows] == [0.5] * 4   # one of the two shuffled answers right
    trainer.train()
    assert trainer.state.log_history[0]["rewards/temporal_reward/mean"] is not None


def test_unsupported_settings_are_refused_with_a_reason(tiny_sft, tmp_path):
    with pytest.raises(ValueError, match="rewards.no_such_field"):   # a typed setting, named where it is wrong
        grpo_config(tiny_sft, tmp_path, rewards={"no_such_field": 1})
    with pytest.raises(ValueError, match="stage 'nope' is unknown; the registered stages are format_warmup, ssl_cot_sft"):
        grpo_config(tiny_sft, tmp_path, stage="nope")
    with pytest.raises(ValueError, match="stage 'cot_sft' is a sft stage; a GRPO run needs a GRPO stage"):
        grpo_config(tiny_sft, tmp_path, stage="cot_sft")
    with pytest.raises(ValueError, match="vllm_server.url"):   # vLLM rollouts need a server to go to
        grpo_config(tiny_sft, tmp_path, grpo={"use_vllm": True})


@pytest.mark.slow
def test_a_killed_grpo_run_resumes_from_its_last_checkpoint(tiny_sft, tmp_path, kill_after_checkpoint):
    config = write_config(grpo_config(tiny_sft, tmp_path, max_steps=6, save_steps=2), tmp_path / "grpo.yaml")
    command = [sys.executable, "-m", "viss_r1.train.grpo", "--config", str(config)]
    killed_at = kill_after_checkpoint(command, tmp_path, step=4)
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["resumed_from"].endswith(f"checkpoint-{killed_at}")
    assert result["global_step"] == 6
    assert [step for step, _ in result["rewards"]] == list(range(killed_at + 1, 7))  # only the missing steps ran
    # the trainer's log history comes back with the checkpoint: the zero-spread curve has every step
    assert [step for step, _ in result[ZERO_SPREAD_RESULT]] == list(range(1, 7))


def test_a_frozen_towers_cached_outputs_train_the_same_policy_to_the_bit(tiny_sft, tmp_path):
    """Rollouts, their log-probs and the loss read a prompt's clip G times a step: with the frozen
    tower's outputs kept, each clip is computed once, and the policy trains to the same bits."""
    from safetensors.torch import load_file

    weights, results = {}, {}
    for cache_mb in (0, 64):
        folder = tmp_path / f"cache_{cache_mb}"
        results[cache_mb] = run_grpo(grpo_config(tiny_sft, folder, max_steps=2, save_steps=100,
                                                 freeze_vision_tower=True, frozen_vision_cache_mb=cache_mb))
        weights[cache_mb] = load_file(folder / "final" / "model.safetensors")
    assert not any(name.startswith("vision_cache") for name in results[0])
    hits, misses = results[64]["vision_cache_hits"], results[64]["vision_cache_misses"]
    assert misses == 4                   # 2 steps × 2 prompts, each clip computed once
    assert hits >= 2 * misses, hits      # its other rollout, the loss forward, …
    assert [r for _, r in results[64]["rewards"]] == [r for _, r in results[0]["rewards"]]
    assert all(torch.equal(weights[0][name], weights[64][name]) for name in weights[0])
