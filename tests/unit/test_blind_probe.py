"""The blind probe keeps the input's shape: the clean clip's frame count, size and timestamps, every
frame one uniform colour (the clip's background), so the processor gives the clean prompt's tokens and mRoPE positions and
only the pixels differ. The no-video probe removes the media altogether."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import record
from transformers import AutoModelForImageTextToText, AutoProcessor

from viss_r1.data.frame_cache import CachedClip, FrameCacheReader
from viss_r1.evaluate.config import ProbeSettings
from viss_r1.evaluate.probes import Condition, conditions, request
from viss_r1.modeling.video_inputs import forward_kwargs, model_inputs
from viss_r1.video.media import uniform_frames

CLEAN, BLIND, NO_VIDEO = Condition("clean", "clean"), Condition("blind", "blind"), Condition("no_video", "no_video")
SYSTEM = "You are a helpful assistant."


@pytest.fixture(scope="module")
def tiny(tiny_sft):
    return AutoProcessor.from_pretrained(tiny_sft.model_dir), AutoModelForImageTextToText.from_pretrained(tiny_sft.model_dir)


def encoded(processor, messages, media):
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return model_inputs(processor, [text], [media])


def rope_positions(model, batch):
    kwargs = forward_kwargs(batch)
    positions, _ = model.model.get_rope_index(
        kwargs["input_ids"], kwargs["mm_token_type_ids"], video_grid_thw=kwargs.get("video_grid_thw"),
        image_grid_thw=kwargs.get("image_grid_thw"), second_per_grid_ts=kwargs.get("second_per_grid_ts"),
        attention_mask=kwargs["attention_mask"])
    return positions


def test_the_probes_are_on_by_default_and_each_has_its_flag():
    assert [c.name for c in conditions(ProbeSettings())] == ["clean", "blind", "no_video", "transformed",
                                                             "frame_drop_0.50"]
    assert [c.name for c in conditions(ProbeSettings(blind=False, transforms=[], frame_drop=[]))] == ["clean", "no_video"]
    assert [c.name for c in conditions(ProbeSettings(no_video=False, transforms=[], frame_drop=[]))] == ["clean", "blind"]


def one_colour(frames: np.ndarray) -> tuple[int, ...]:
    """The one colour of uniform [T, C, H, W] frames (fails if there are several)."""
    (colour,) = {tuple(int(v) for v in frames[t, :, y, x]) for t in range(len(frames))
                 for y in range(frames.shape[2]) for x in range(frames.shape[3])}
    return colour


def test_uniform_frames_keep_shape_and_dtype_and_hold_the_background_colour():
    frames = np.empty((4, 3, 28, 56), dtype=np.uint8)
    frames[:] = np.array([18, 22, 40], dtype=np.uint8)[None, :, None, None]   # a dark sky
    frames[:, :, 10:14, 20:30] = 250                                            # and something bright in it
    blind = uniform_frames(frames)
    assert blind.shape == frames.shape and blind.dtype == np.uint8
    assert one_colour(blind) == (18, 22, 40)


def test_blind_video_has_the_clean_shape_and_timestamps_with_uniform_frames(tiny_sft):
    frames = FrameCacheReader(tiny_sft.shard_files)
    for row in tiny_sft.rows[:3]:
        clean_messages, clean = request(CLEAN, row, frames, SYSTEM, 0)
        blind_messages, blind = request(BLIND, row, frames, SYSTEM, 0)
        assert blind_messages == clean_messages
        assert blind.data_type == clean.data_type == "video"
        assert blind.frames.shape == clean.frames.shape == (16, 3, 56, 56) and blind.frames.dtype == np.uint8
        assert blind.video_metadata == clean.video_metadata   # fps, indices, size: the clean clip's timeline
        assert len(np.unique(clean.frames)) > 1               # the clean clip has something to see
        background = np.median(clean.frames.transpose(1, 0, 2, 3).reshape(3, -1), axis=1).round()
        assert one_colour(blind.frames) == tuple(int(v) for v in background)   # one colour: the clip's background


def test_the_processor_gives_blind_the_clean_tokens_and_positions(tiny_sft, tiny):
    processor, model = tiny
    frames = FrameCacheReader(tiny_sft.shard_files)
    row = tiny_sft.rows[0]
    clean = encoded(processor, *request(CLEAN, row, frames, SYSTEM, 0))
    blind = encoded(processor, *request(BLIND, row, frames, SYSTEM, 0))
    video_tokens = int((clean["input_ids"] == processor.video_token_id).sum())
    assert video_tokens > 0 and int((blind["input_ids"] == processor.video_token_id).sum()) == video_tokens
    assert torch.equal(blind["input_ids"], clean["input_ids"])
    assert torch.equal(blind["mm_token_type_ids"], clean["mm_token_type_ids"])
    assert torch.equal(blind["video_grid_thw"], clean["video_grid_thw"])
    assert torch.equal(blind["second_per_grid_ts"], clean["second_per_grid_ts"])
    assert torch.equal(rope_positions(model, blind), rope_positions(model, clean))   # mRoPE positions
    assert blind["pixel_values_videos"].shape == clean["pixel_values_videos"].shape
    assert not torch.equal(blind["pixel_values_videos"], clean["pixel_values_videos"])   # only the pixels differ
    assert len(torch.unique(blind["pixel_values_videos"][:, 0])) == 1   # one colour, normalised

    no_video = encoded(processor, *request(NO_VIDEO, row, frames, SYSTEM, 0))
    assert int((no_video["input_ids"] == processor.video_token_id).sum()) == 0
    assert "pixel_values_videos" not in no_video


class OneImageCache:
    """A frame cache holding one image (the tiny setup has only videos)."""

    def __init__(self, image: np.ndarray):
        self.image = image

    def load(self, fingerprint: str) -> CachedClip:
        return CachedClip(fingerprint, self.image[None], np.array([0]), 1.0, 1.0, 1)


def test_a_blind_image_is_one_uniform_image_of_the_same_size(tiny):
    processor, model = tiny
    image = np.random.default_rng(1).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    row = record(0, "./a.png", data_type="image", fingerprint="a" * 24)
    clean_messages, clean = request(CLEAN, row, OneImageCache(image), SYSTEM, 0)
    blind_messages, blind = request(BLIND, row, OneImageCache(image), SYSTEM, 0)
    assert blind_messages == clean_messages and blind.data_type == "image"
    assert blind.frames.shape == clean.frames.shape == (1, 3, 56, 84)
    assert blind.video_metadata == clean.video_metadata == {}
    assert one_colour(blind.frames) == tuple(int(v) for v in np.median(image.reshape(-1, 3), axis=0).round())
    clean_batch, blind_batch = encoded(processor, clean_messages, clean), encoded(processor, blind_messages, blind)
    assert torch.equal(blind_batch["input_ids"], clean_batch["input_ids"])
    assert torch.equal(blind_batch["image_grid_thw"], clean_batch["image_grid_thw"])
    assert torch.equal(rope_positions(model, blind_batch), rope_positions(model, clean_batch))
