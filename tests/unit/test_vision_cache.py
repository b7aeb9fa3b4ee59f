"""A frozen vision tower's per-clip outputs, kept: the same bits as computing them, fewer computations."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from viss_r1.modeling.vision_cache import cache_frozen_vision, vision_cache_summary
from viss_r1.modeling.video_inputs import forward_kwargs, model_inputs
from viss_r1.video.media import MediaInput

PROMPT = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Which way?<|im_end|>\n"
          "<|im_start|>assistant\nleft")
METADATA = {"fps": 8.0, "total_num_frames": 32, "frames_indices": list(range(0, 32, 4))}


@pytest.fixture(scope="module")
def processor(tiny_sft):
    return AutoProcessor.from_pretrained(tiny_sft.model_dir)


def frozen_model(tiny_sft):
    model = AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)
    model.model.visual.requires_grad_(False)
    return model


def batch_of(processor, seeds):
    clips = [np.random.default_rng(seed).integers(0, 255, (8, 3, 56, 56), dtype=np.uint8) for seed in seeds]
    return model_inputs(processor, [PROMPT] * len(seeds), [MediaInput("video", c, METADATA) for c in clips])


def counting_tower(model) -> list[int]:
    """How many clips each real call of the tower's blocks computed (one entry per call)."""
    calls = []
    model.model.visual.patch_embed.register_forward_hook(
        lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    return calls


def test_cached_clips_give_the_logits_and_gradients_of_computed_ones(tiny_sft, processor):
    plain, cached = frozen_model(tiny_sft), frozen_model(tiny_sft)
    stats = cache_frozen_vision(cached.model.visual, 2**30)
    first, second = batch_of(processor, [0, 1, 2]), batch_of(processor, [2, 0, 3])   # clips 0 and 2 come back
    for batch in (first, second):
        outputs = [model(**forward_kwargs(batch)).logits for model in (plain, cached)]
        assert torch.equal(outputs[0], outputs[1])
        for model, logits in zip((plain, cached), outputs):
            model.zero_grad()
            logits.sum().backward()
        grads = [{n: p.grad for n, p in model.named_parameters() if p.grad is not None} for model in (plain, cached)]
        assert grads[0].keys() == grads[1].keys() and grads[0]
        assert all(torch.equal(grads[0][name], grads[1][name]) for name in grads[0])
    assert (stats.hits, stats.misses) == (2, 4)
    assert vision_cache_summary(cached)["vision_cache_kept_clips"] == 4 and vision_cache_summary(plain) == {}


def test_a_clip_repeated_within_a_batch_is_computed_once(tiny_sft, processor):
    model = frozen_model(tiny_sft)
    stats = cache_frozen_vision(model.model.visual, 2**30)
    computed = counting_tower(model)
    patches_per_clip = int(batch_of(processor, [5])["video_grid_thw"][0].prod())
    with torch.no_grad():
        model(**forward_kwargs(batch_of(processor, [5, 5, 5, 6])))   # as the G rollouts of one GRPO prompt
        model(**forward_kwargs(batch_of(processor, [6, 5])))
    assert computed == [2 * patches_per_clip]                          # the second call computed nothing
    assert (stats.hits, stats.misses) == (4, 2)


def test_when_full_new_clips_are_computed_and_not_kept(tiny_sft, processor):
    model = frozen_model(tiny_sft)
    with torch.no_grad():
        one_clip = model.model.visual(batch_of(processor, [0])["pixel_values_videos"],
                                      grid_thw=batch_of(processor, [0])["video_grid_thw"]).pooler_output
    stats = cache_frozen_vision(model.model.visual, one_clip.numel() * one_clip.element_size())   # room for one
    computed = counting_tower(model)
    with torch.no_grad():
        for seeds in ([0, 1], [0, 1]):
            model(**forward_kwargs(batch_of(processor, seeds)))
    assert len(computed) == 2 and computed[1] == computed[0] // 2     # clip 1 again, clip 0 from the cache
    assert stats.summary()["kept_clips"] == 1 and (stats.hits, stats.misses) == (1, 3)


def test_a_tower_that_trains_is_never_served_from_the_cache(tiny_sft, processor):
    model = frozen_model(tiny_sft)
    stats = cache_frozen_vision(model.model.visual, 2**30)
    model.model.visual.merger.requires_grad_(True)          # as train_vision_merger
    computed = counting_tower(model)
    batch = batch_of(processor, [0])
    for _ in range(2):
        model(**forward_kwargs(batch)).logits.sum().backward()
    assert len(computed) == 2 and stats.bypassed == 2 and stats.hits == 0
    assert model.model.visual.merger.mlp[0].weight.grad is not None


def test_a_loaded_policy_caches_only_a_tower_frozen_whole(tiny_sft):
    from viss_r1.train.config import OptimSettings
    from viss_r1.train.policy import load_policy

    frozen = OptimSettings(freeze_vision_tower=True, frozen_vision_cache_mb=8, bf16=False)
    assert vision_cache_summary(load_policy(str(tiny_sft.model_dir), frozen)[0]) == {
        "vision_cache_hits": 0, "vision_cache_misses": 0, "vision_cache_bypassed": 0, "vision_cache_kept_bytes": 0,
        "vision_cache_kept_clips": 0}
    for training in (frozen.model_copy(update={"train_vision_merger": True}),
                     frozen.model_copy(update={"freeze_vision_tower": False}),
                     frozen.model_copy(update={"frozen_vision_cache_mb": 0})):
        assert vision_cache_summary(load_policy(str(tiny_sft.model_dir), training)[0]) == {}
    assert "frozen_vision_cache_mb" not in frozen.trainer_fields()
