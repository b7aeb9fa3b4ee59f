"""The vision tower's self-supervised pretraining: its target, and that it trains the tower alone."""

from types import SimpleNamespace

import torch

from viss_r1.modeling.tiny import TinyModelSpec, build_tiny_model
from viss_r1.modeling.vision_pretraining import pretraining_clips, reconstruction_target

VISION = SimpleNamespace(spatial_merge_size=2, patch_size=14, in_channels=3, temporal_patch_size=2)


def test_target_is_each_patch_quarter_mean_in_processor_order():
    # One merged token of 4 patches; patch k, channel c, slice t, quarter (i, j) holds a known value.
    values = torch.arange(4 * 3 * 2 * 2 * 2, dtype=torch.float32).reshape(4, 3, 2, 2, 2)
    patches = values[..., :, None, :, None].expand(4, 3, 2, 2, 7, 2, 7).reshape(4, 3, 2, 14, 14)
    target = reconstruction_target(patches.reshape(4, -1), VISION)
    assert target.shape == (1, 96)
    assert torch.equal(target[0], values.flatten())


def test_target_of_two_tokens_keeps_them_apart():
    pixels = torch.cat([torch.zeros(4, 1176), torch.ones(4, 1176)])
    target = reconstruction_target(pixels, VISION)
    assert target.shape == (2, 96) and target[0].eq(0).all() and target[1].eq(1).all()


def test_pretraining_clips_are_reproducible_and_not_the_datasets():
    first, again = pretraining_clips(3, seed=0, side=56), pretraining_clips(3, seed=0, side=56)
    other = pretraining_clips(3, seed=1, side=56)
    assert first[0].shape == (16, 56, 56, 3)
    assert all((a == b).all() for a, b in zip(first, again))
    assert any((a != b).any() for a, b in zip(first, other))


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
