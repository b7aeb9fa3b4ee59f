"""A checkpoint's own generation_config.json changes no sampling parameter: evaluation (and the
annotation path, which shares ``generate_completions``) and GRPO rollouts pass every one
explicitly (METHOD.md §9). T-GRPO's shuffled rollouts reuse the GRPO rollouts' generation config
(tests/integration/test_temporal_rollouts.py)."""

import json
import shutil

import pytest
from transformers import GenerationConfig

from viss_r1.modeling.generation import Decoding, generate_completions, load_for_generation
from viss_r1.prompts import chat_messages
from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings
from viss_r1.train.grpo import build_trainer
from viss_r1.video.media import MediaInput

# What a checkpoint may ship: all of it would change our sampling if it leaked through.
CHECKPOINT_SAMPLING = dict(do_sample=False, temperature=0.0001, top_k=1, top_p=0.5, repetition_penalty=5.0,
                           min_p=0.3, no_repeat_ngram_size=2)


@pytest.fixture
def opinionated_checkpoint(tiny_sft, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_sft.model_dir, folder)
    # Written as a file: transformers refuses to save sampling flags beside do_sample=False.
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **CHECKPOINT_SAMPLING}))
    return folder


def effective_configs(model) -> list[GenerationConfig]:
    """The GenerationConfig each generate() call really decodes with (after transformers merged in
    the checkpoint's)."""
    seen = []
    prepare = model._prepare_generation_config

    def record(*args, **kwargs):
        config, model_kwargs = prepare(*args, **kwargs)
        seen.append(config)
        return config, model_kwargs

    model._prepare_generation_config = record
    return seen


def sampling(config: GenerationConfig) -> dict:
    return {k: getattr(config, k) for k in (*CHECKPOINT_SAMPLING, "max_new_tokens", "num_beams")}


def test_the_default_decoding_is_the_release_eval_scripts():
    """src/eval_bench_ssl_parallel.py: SamplingParams(temperature=0.1, top_p=0.001, max_tokens=1024);
    vLLM's own top_k (off) and repetition_penalty (1.0)."""
    decoding = Decoding()
    assert (decoding.temperature, decoding.top_p, decoding.max_new_tokens, decoding.top_k,
            decoding.repetition_penalty, decoding.do_sample) == (0.1, 0.001, 1024, 0, 1.0, True)


def test_evaluation_samples_with_our_parameters_not_the_checkpoints(opinionated_checkpoint):
    model, processor = load_for_generation(str(opinionated_checkpoint))
    assert model.generation_config.top_k == 1 and model.generation_config.repetition_penalty == 5.0
    seen = effective_configs(model)
    decoding = Decoding(max_new_tokens=3, temperature=0.7, top_p=0.9, top_k=7, repetition_penalty=1.2, batch_size=2)
    generate_completions(model, processor, [chat_messages("How many?", None)] * 2, [MediaInput(None)] * 2, decoding)
    assert len(seen) == 1
    assert sampling(seen[0]) == dict(do_sample=True, temperature=0.7, top_k=7, top_p=0.9, repetition_penalty=1.2,
                                     min_p=0.0, no_repeat_ngram_size=0, max_new_tokens=3, num_beams=1)


def test_greedy_evaluation_keeps_our_penalty_and_length(opinionated_checkpoint):
    model, processor = load_for_generation(str(opinionated_checkpoint))
    seen = effective_configs(model)
    generate_completions(model, processor, [chat_messages("How many?", None)], [MediaInput(None)],
                         Decoding(max_new_tokens=2, do_sample=False))
    (config,) = seen
    assert (config.do_sample, config.repetition_penalty, config.no_repeat_ngram_size, config.max_new_tokens,
            config.num_beams) == (False, 1.0, 0, 2, 1)


def test_grpo_rollouts_sample_with_our_parameters_not_the_checkpoints(tiny_sft, opinionated_checkpoint, tmp_path):
    config = GRPORunConfig(stage="viss_r1_grpo", model=str(opinionated_checkpoint), output_dir=str(tmp_path / "run"),
                           samples=str(tiny_sft.samples), frame_shards=[str(p) for p in tiny_sft.shard_files],
                           training=OptimSettings(bf16=False, activation_checkpointing=False, max_steps=1),
                           grpo=GRPOSettings(num_generations=2, max_completion_length=12))
    trainer, _, _ = build_trainer(config)
    # TRL hands generate() its GenerationConfig; transformers fills what it leaves unset from the model.
    effective, _ = trainer.model._prepare_generation_config(trainer.generation_config)
    assert sampling(effective) == dict(do_sample=True, temperature=1.0, top_k=0, top_p=0.95, repetition_penalty=1.0,
                                       min_p=0.0, no_repeat_ngram_size=0, max_new_tokens=12, num_beams=1)
