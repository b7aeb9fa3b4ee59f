"""T-GRPO's shuffled-frame rollouts sample exactly as the main rollouts do (METHOD.md §9): both
take TRL's generation config whole, so a checkpoint's ``generation_config.json`` — here one that
sets top_k 1, repetition_penalty 5.0, greedy decoding and more — changes neither."""

from __future__ import annotations

import json
import shutil

from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings
from viss_r1.train.grpo import build_trainer

SAMPLING = ("do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "no_repeat_ngram_size",
            "max_new_tokens", "suppress_tokens")
# What a checkpoint may ship: each would change how the shuffled rollouts sample if it leaked through.
CHECKPOINT_SAMPLING = {"top_k": 1, "repetition_penalty": 5.0, "temperature": 0.3, "top_p": 0.5, "do_sample": False,
                       "no_repeat_ngram_size": 2, "max_new_tokens": 3}


def test_shuffled_rollouts_sample_with_the_main_rollouts_parameters_not_the_checkpoints(tiny_sft, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_sft.model_dir, model)
    saved = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**saved, **CHECKPOINT_SAMPLING}))
    config = GRPORunConfig(
        stage="video_r1_grpo", model=str(model), output_dir=str(tmp_path / "run"), samples=str(tiny_sft.samples),
        frame_shards=[str(p) for p in tiny_sft.shard_files], rewards={"temporal": True},
        training=OptimSettings(learning_rate=1e-3, bf16=False, activation_checkpointing=False, max_steps=1,
                               per_device_train_batch_size=1, gradient_accumulation_steps=1, save_steps=100, seed=0),
        grpo=GRPOSettings(num_generations=2, max_completion_length=6))
    trainer, _, _ = build_trainer(config)
    policy = trainer.model
    assert policy.generation_config.top_k == 1 and policy.generation_config.repetition_penalty == 5.0
    resolved = []   # what generate() decided for each call, after filling unset fields from the checkpoint
    prepare = policy._prepare_generation_config

    def recording(generation_config, **kwargs):
        decided, model_kwargs = prepare(generation_config, **kwargs)
        resolved.append({name: getattr(decided, name) for name in SAMPLING})
        return decided, model_kwargs

    policy._prepare_generation_config = recording
    trainer.train()
    shuffled, main = resolved   # T-GRPO's rollouts are sampled first, before the step's main rollouts
    assert shuffled == main
    assert main["do_sample"] is True and main["max_new_tokens"] == config.grpo.max_completion_length
    assert (main["temperature"], main["top_p"]) == (config.grpo.temperature, config.grpo.top_p)
    assert (main["top_k"], main["repetition_penalty"]) == (trainer.args.top_k, trainer.args.repetition_penalty)
    assert (trainer.args.top_k, trainer.args.repetition_penalty) != (1, 5.0)
