"""Self-supervised pretraining of the tiny model's vision tower: the analogue of the pretrained
encoder every real Qwen2.5-VL starts with.

A random tower's merged tokens carry the pixels only faintly: a tiny language model trained on
them learns answers from the question text alone (README, "What the tiny model learns"). Here each
merged token learns, through a linear head that is then thrown away, to redraw a coarse picture of
its own region — per patch, per temporal slice, the mean colour of each quarter — in one of two
forms (``TinyModelSpec.vision_pretraining_target``):

- ``appearance``: the picture itself;
- ``foreground_and_motion`` (the default): the picture's departure from the clip's background (the
  per-feature median over all the clip's tokens, as VideoMAE normalises its targets) and its change
  to the next temporal slice. A token then says what stands out in its region and how it is moving,
  which a tiny language model reads off a few hundred clips; from the plain picture it needed far
  more (``benchmarks/grounding_check.py --vision-pretraining-target``).

No labels: the clips come from the synthetic scene generator on a seed stream of their own, never
the dataset's train, validation or eval clips.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np

# Entropy that keeps the pretraining clips apart from the dataset's (viss_r1.synthetic.generate
# draws from SeedSequence(seed, spawn_key=(split, index))).
_CLIP_ENTROPY = 0x56_49_53_50  # "VISP"
QUARTERS = 2  # each patch's target: its 2×2 quarter means per channel and temporal slice
# The change between slices is small beside the foreground; weighted up so the loss does not ignore it.
MOTION_WEIGHT = 4.0
PretrainingTarget = Literal["appearance", "foreground_and_motion"]


# The scenes the tower learns on, in this order: a fixed list, so that offering one more scene
# (viss_r1.synthetic.scenes.SCENES) does not change the default base model and every measured number.
PRETRAINING_SCENES = ("counting", "description", "distance", "event_order", "motion_direction", "moving_colour", "ocr")


def pretraining_clips(count: int, seed: int, side: int, num_frames: int = 16) -> list[np.ndarray]:
    """``count`` synthetic clips, ``num_frames`` frames of side × side, cycling through
    ``PRETRAINING_SCENES``."""
    from viss_r1.synthetic.scenes import SCENES, Layout

    layout = Layout(num_frames=2 * num_frames, width=side, height=side, fps=8)
    clips = []
    for index in range(count):
        rng = np.random.default_rng(np.random.SeedSequence([seed, _CLIP_ENTROPY, index]))
        clips.append(SCENES[PRETRAINING_SCENES[index % len(PRETRAINING_SCENES)]](rng, layout).frames[::2])
    return clips


def quarter_means(pixel_values, vision_config) -> Any:
    """Per merged token: the quarter means of each of its patches, channels and temporal slices.

    The processor flattens each patch as (channel, temporal, row, column) and orders patches so
    that the ``spatial_merge_size²`` patches of one merged token are consecutive."""
    merge, patch = vision_config.spatial_merge_size ** 2, vision_config.patch_size
    channels, temporal = vision_config.in_channels, vision_config.temporal_patch_size
    if patch % QUARTERS:
        raise ValueError(f"patch_size {patch} does not split into {QUARTERS}×{QUARTERS} quarters")
    half = patch // QUARTERS
    quarters = pixel_values.reshape(-1, merge, channels, temporal, QUARTERS, half, QUARTERS, half).mean(dim=(5, 7))
    return quarters.reshape(quarters.shape[0], -1)


def reconstruction_target(pixel_values, grid_thw, vision_config, target: PretrainingTarget) -> Any:
    """What each merged token of the batch learns to redraw (the module docstring). ``grid_thw``
    holds each clip's (temporal, height, width) patch grid, in the order the clips' patches come."""
    import torch

    quarters = quarter_means(pixel_values, vision_config)
    if target == "appearance":
        return quarters
    if target != "foreground_and_motion":
        raise ValueError(f"unknown vision pretraining target {target!r}")
    merge = vision_config.spatial_merge_size
    grids = grid_thw.tolist()
    counts = [slices * (height // merge) * (width // merge) for slices, height, width in grids]
    if sum(counts) != quarters.shape[0]:
        raise ValueError(f"grid_thw covers {sum(counts)} merged tokens, the pixels hold {quarters.shape[0]}")
    per_clip = []
    for (slices, _, _), tokens in zip(grids, quarters.split(counts)):
        clip = tokens.reshape(slices, -1, tokens.shape[-1])
        foreground = clip - tokens.median(dim=0).values
        # Tokens are ordered by slice, then position: the next slice's token at the same place.
        motion = torch.cat([clip[1:] - clip[:-1], torch.zeros_like(clip[:1])])
        per_clip.append(torch.cat([foreground, MOTION_WEIGHT * motion], dim=-1).reshape(len(tokens), -1))
    return torch.cat(per_clip)


class ProcessedClips:
    """Each clip through the processor once, on first use: a step draws its clips with replacement,
    and processing them again every step was a fifth of the pretraining's time. The processor
    treats each video of a call on its own, so a batch is its clips' patches and grids in order —
    the same tensors a call on the whole batch returns. 400 clips of 16 frames at 112×112 hold
    ≈1 GB of float patches."""

    def __init__(self, processor, clips: Sequence[np.ndarray]):
        self.processor, self.clips, self.cache = processor, clips, {}

    def of(self, index: int):
        if index not in self.cache:
            out = self.processor.video_processor(videos=[self.clips[index]], return_tensors="pt",
                                                 do_sample_frames=False)
            self.cache[index] = (out["pixel_values_videos"], out["video_grid_thw"])
        return self.cache[index]

    def batch(self, indices: Sequence[int]):
        """(pixel_values_videos, video_grid_thw) of the clips ``indices``, in that order."""
        import torch

        pixels, grids = zip(*(self.of(int(i)) for i in indices))
        return torch.cat(pixels), torch.cat(grids)


def pretrain_vision_tower(model, processor, clips: Sequence[np.ndarray], steps: int, learning_rate: float,
                          batch_size: int, seed: int, target: PretrainingTarget) -> list[float]:
    """Train ``model``'s vision tower (blocks and merger) in place; the language model is untouched.
    Returns the reconstruction loss (mean squared error on normalised pixels) of every step."""
    import torch

    vision = model.model.visual
    patches = ProcessedClips(processor, clips)
    pixels, grid = patches.batch([0])
    target_size = reconstruction_target(pixels, grid, vision.config, target).shape[-1]
    torch.manual_seed(seed)
    head = torch.nn.Linear(vision.config.out_hidden_size, target_size)
    parameters = [*vision.parameters(), *head.parameters()]
    was_training = vision.training
    vision.requires_grad_(True)
    vision.train()
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.01)
    order = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        pixels, grid = patches.batch(order.integers(len(clips), size=batch_size).tolist())
        tokens = vision(pixels, grid_thw=grid).pooler_output
        loss = torch.nn.functional.mse_loss(head(tokens), reconstruction_target(pixels, grid, vision.config, target))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    vision.train(was_training)
    return losses
