"""Video inputs carry real timing into the model (METHOD.md §9)."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from viss_r1.modeling.video_inputs import VIDEO_FIELDS, forward_kwargs, model_inputs
from viss_r1.video.media import MediaInput

PROMPT = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Which way?<|im_end|>\n"
          "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def tiny(tiny_sft):
    return AutoProcessor.from_pretrained(tiny_sft.model_dir), AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)


def clip(num_frames=8, seed=0):
    frames = np.random.default_rng(seed).integers(0, 255, (num_frames, 3, 56, 56), dtype=np.uint8)
    # 8 frames sampled at 2 fps from a 4 s, 8 fps video: indices 0, 4, 9, …
    metadata = {"fps": 8.0, "total_num_frames": 32, "frames_indices": np.linspace(0, 31, num_frames).round().astype(int).tolist()}
    return frames, metadata


def temporal_positions(model, batch, processor):
    kwargs = forward_kwargs(batch)
    positions, _ = model.model.get_rope_index(
        kwargs["input_ids"], kwargs["mm_token_type_ids"], video_grid_thw=kwargs.get("video_grid_thw"),
        second_per_grid_ts=kwargs.get("second_per_grid_ts"), attention_mask=kwargs["attention_mask"])
    video = kwargs["input_ids"][0] == processor.video_token_id
    return positions[0, 0][video]


def test_batch_carries_every_video_field_and_real_timing(tiny):
    processor, _ = tiny
    frames, metadata = clip()
    batch = model_inputs(processor, [PROMPT], [MediaInput("video", frames, metadata)])
    assert set(VIDEO_FIELDS) <= set(forward_kwargs(batch))
    assert batch["video_grid_thw"].tolist() == [[4, 4, 4]]      # 8 frames / temporal patch 2, 56 px / 14
    # sampled fps = 8 frames / 32 * 8 fps = 2 → a temporal patch of 2 frames spans 1 s
    assert batch["second_per_grid_ts"].tolist() == [pytest.approx(1.0)]
    assert batch["pixel_values_videos"].shape[0] == 4 * 4 * 4


def test_temporal_positions_follow_the_timeline_and_collapse_without_metadata(tiny):
    processor, model = tiny
    frames, metadata = clip()
    batch = model_inputs(processor, [PROMPT], [MediaInput("video", frames, metadata)])
    per_grid = temporal_positions(model, batch, processor).view(4, 4)[:, 0]   # 4 temporal grids × 2×2 merged tokens
    step = model.config.vision_config.tokens_per_second * 1.0  # second_per_grid_ts = 1 s
    assert (per_grid - per_grid[0]).tolist() == [round(step * t) for t in range(4)]
    # The trap: frames without metadata are taken as 24 fps and the grids share one position.
    bare = processor(text=[PROMPT], videos=[frames], return_tensors="pt",
                     videos_kwargs={"do_sample_frames": False, "do_resize": False})
    collapsed = temporal_positions(model, bare, processor).view(4, 4)[:, 0]   # 4 temporal grids × 2×2 merged tokens
    assert len(set(collapsed.tolist())) == 1


def test_reversing_the_frames_changes_what_the_model_computes(tiny):
    processor, model = tiny
    frames, metadata = clip()
    forward = model_inputs(processor, [PROMPT], [MediaInput("video", frames, metadata)])
    backward = model_inputs(processor, [PROMPT], [MediaInput("video", frames[::-1].copy(), metadata)])
    with torch.no_grad():
        a = model(**forward_kwargs(forward)).logits[0, -1]
        b = model(**forward_kwargs(backward)).logits[0, -1]
    assert not torch.allclose(a, b, atol=1e-5)


def test_missing_or_mismatched_timing_is_an_error(tiny):
    processor, _ = tiny
    frames, metadata = clip()
    with pytest.raises(ValueError, match="24 fps"):
        model_inputs(processor, [PROMPT], [MediaInput("video", frames, {})])
    with pytest.raises(ValueError, match="7 frame indices for 8 frames"):
        model_inputs(processor, [PROMPT], [MediaInput("video", frames, {**metadata, "frames_indices": list(range(7))})])


def test_mixed_batch_of_video_image_and_blind_samples(tiny):
    processor, model = tiny
    frames, metadata = clip()
    image_prompt = PROMPT.replace("<|video_pad|>", "<|image_pad|>")
    blind_prompt = "<|im_start|>user\nWhich way?<|im_end|>\n<|im_start|>assistant\n"
    batch = model_inputs(processor, [PROMPT, image_prompt, blind_prompt],
                         [MediaInput("video", frames, metadata), MediaInput("image", frames[:1]), MediaInput(None)])
    assert batch["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert batch["attention_mask"][:, -1].tolist() == [1, 1, 1]   # left padding for generation
    with torch.no_grad():
        assert torch.isfinite(model(**forward_kwargs(batch)).logits).all()
