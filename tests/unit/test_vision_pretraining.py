"""The vision tower's self-supervised pretraining: its target, and that it trains the tower alone."""

from types import SimpleNamespace

import torch

from viss_r1.modeling.tiny import TinyModelSpec, build_tiny_model
import pytest

from viss_r1.modeling.vision_pretraining import MOTION_WEIGHT, pretraining_clips, quarter_means, reconstruction_target

VISION = SimpleNamespace(spatial_merge_size=2, patch_size=14, in_channels=3, temporal_patch_size=2)


def test_quarter_means_are_each_patch_quarter_in_processor_order():
    # One merged token of 4 patches; patch k, channel c, slice t, quarter (i, j) holds a known value.
    values = torch.arange(4 * 3 * 2 * 2 * 2, dtype=torch.float32).reshape(4, 3, 2, 2, 2)
    patches = values[..., :, None, :, None].expand(4, 3, 2, 2, 7, 2, 7).reshape(4, 3, 2, 14, 14)
    target = quarter_means(patches.reshape(4, -1), VISION)
    assert target.shape == (1, 96)
    assert torch.equal(target[0], values.flatten())


def test_quarter_means_of_two_tokens_keep_them_apart():
    pixels = torch.cat([torch.zeros(4, 1176), torch.ones(4, 1176)])
    target = quarter_means(pixels, VISION)
    assert target.shape == (2, 96) and target[0].eq(0).all() and target[1].eq(1).all()
    grid = torch.tensor([[1, 2, 2], [1, 2, 2]])   # two clips of one token each
    assert torch.equal(reconstruction_target(pixels, grid, VISION, "appearance"), target)


def clip_of(levels):
    """A clip of merged tokens whose every pixel in token k of slice t is ``levels[t][k]``; its grid."""
    levels = torch.tensor(levels, dtype=torch.float32)
    slices, tokens = levels.shape
    pixels = levels.reshape(-1, 1, 1).expand(-1, 4, 1176).reshape(-1, 1176)
    side = int(tokens ** 0.5)
    return pixels, torch.tensor([[slices, 2 * side, 2 * side]])


def test_foreground_is_the_departure_from_the_clips_background_and_motion_the_change_to_the_next_slice():
    # Four tokens a slice on a background of 0.5; an object (1.0) moves from token 0 to token 1.
    pixels, grid = clip_of([[1.0, 0.5, 0.5, 0.5], [0.5, 1.0, 0.5, 0.5]])
    target = reconstruction_target(pixels, grid, VISION, "foreground_and_motion")
    assert target.shape == (8, 2 * 96)
    foreground, motion = target[:, :96], target[:, 96:]
    assert torch.equal(foreground[:, 0], torch.tensor([0.5, 0, 0, 0, 0, 0.5, 0, 0]))
    assert torch.equal(motion[:, 0], MOTION_WEIGHT * torch.tensor([-0.5, 0.5, 0, 0, 0, 0, 0, 0]))
    # Every feature of a token carries its pixel level: the columns agree.
    assert torch.equal(target[:, :96], foreground[:, :1].expand(-1, 96))


def test_each_clip_has_its_own_background():
    first, grid = clip_of([[0.0, 0.0, 0.0, 1.0]])
    second, _ = clip_of([[2.0, 3.0, 3.0, 3.0]])
    target = reconstruction_target(torch.cat([first, second]), torch.cat([grid, grid]), VISION, "foreground_and_motion")
    assert torch.equal(target[:, 0], torch.tensor([0, 0, 0, 1.0, -1.0, 0, 0, 0]))
    assert target[:, 96:].eq(0).all()   # one slice a clip: nothing to move to


def test_a_grid_that_does_not_cover_the_pixels_is_refused():
    pixels, grid = clip_of([[0.0, 0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="grid_thw covers 4 merged tokens, the pixels hold 8"):
        reconstruction_target(torch.cat([pixels, pixels]), grid, VISION, "foreground_and_motion")
    with pytest.raises(ValueError, match="grid_thw covers 8 merged tokens, the pixels hold 4"):
        reconstruction_target(pixels, torch.cat([grid, grid]), VISION, "foreground_and_motion")
    with pytest.raises(ValueError, match="unknown vision pretraining target 'pixels'"):
        reconstruction_target(pixels, grid, VISION, "pixels")


def test_pretraining_clips_are_reproducible_and_not_the_datasets():
    first, again = pretraining_clips(3, seed=0, side=56), pretraining_clips(3, seed=0, side=56)
    other = pretraining_clips(3, seed=1, side=56)
    assert first[0].shape == (16, 56, 56, 3)
    assert all((a == b).all() for a, b in zip(first, again))
    assert any((a != b).any() for a, b in zip(first, other))


def test_offering_another_scene_leaves_the_pretraining_clips_as_they_were(monkeypatch):
    from viss_r1.synthetic import scenes

    before = pretraining_clips(8, seed=0, side=56)
    # A scene whose name sorts first: a tower drawn over every offered scene would shift its cycle.
    monkeypatch.setitem(scenes.SCENES, "a_new_scene", scenes.SCENES["ocr"])
    after = pretraining_clips(8, seed=0, side=56)
    assert all((a == b).all() for a, b in zip(before, after))


def test_pretraining_lowers_the_loss_and_moves_only_the_tower(tmp_path):
    from transformers import AutoModelForImageTextToText

    corpus = ["<answer>A</answer> what moves in the video", "the red ball rolls to the left"] * 40
    small = dict(hidden_size=64, intermediate_size=128, num_layers=2, vision_depth=2, vision_hidden_size=32,
                 vision_heads=2, min_pixels=56 * 56, max_pixels=56 * 56)
    plain = build_tiny_model(tmp_path / "plain", corpus, TinyModelSpec(**small))
    trained = build_tiny_model(tmp_path / "trained", corpus, TinyModelSpec(
        **small, vision_pretraining_steps=60, vision_pretraining_clips=12, vision_pretraining_lr=3e-3,
        vision_pretraining_batch_size=2))
    assert "vision_pretraining_loss_last" not in plain
    assert trained["vision_pretraining_loss_last"] < 0.6 * trained["vision_pretraining_loss_first"]

    before = AutoModelForImageTextToText.from_pretrained(tmp_path / "plain").state_dict()
    after = AutoModelForImageTextToText.from_pretrained(tmp_path / "trained").state_dict()
    assert before.keys() == after.keys()  # the reconstruction head is not saved
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all("visual" in name for name in moved)
    assert any("merger" in name for name in moved) and any("blocks" in name for name in moved)


def test_processed_clips_give_the_batch_the_processor_gives_and_process_each_clip_once():
    from viss_r1.modeling.tiny import build_processor, train_tokenizer
    from viss_r1.modeling.vision_pretraining import ProcessedClips

    spec = TinyModelSpec()
    processor = build_processor(train_tokenizer(["the red square moves to the left"] * 20, spec.vocab_size), spec)
    clips = pretraining_clips(5, seed=0, side=112)
    calls = []
    real = processor.video_processor.__call__

    class Counting:   # the processor's video processor, counting the videos it is given
        def __call__(self, videos, **kwargs):
            calls.append(len(videos))
            return real(videos=videos, **kwargs)

    whole = processor.video_processor(videos=[clips[3], clips[1], clips[3]], return_tensors="pt", do_sample_frames=False)
    cached = ProcessedClips(SimpleNamespace(video_processor=Counting()), clips)
    pixels, grid = cached.batch([3, 1, 3])
    assert torch.equal(pixels, whole["pixel_values_videos"]) and torch.equal(grid, whole["video_grid_thw"])
    cached.batch([1, 4])
    assert calls == [1, 1, 1]   # clips 3, 1, then 4: each processed on its first draw only
