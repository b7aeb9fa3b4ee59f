"""Decode the sampled frames of one clip (decord, one batched read) and resize them the
qwen-vl-utils way: aspect kept, sides multiples of 28, pixel area within [min, max]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from viss_r1.video.sampling import FrameSampling, resized_frame_size, sample_frame_indices


@dataclass
class SampledClip:
    frames: np.ndarray          # [T, H, W, 3] uint8, already resized
    frame_indices: np.ndarray   # indices into the source video (presentation order)
    sample_fps: float           # frames per second of the sampled sequence
    video_fps: float
    total_frames: int


def resize_frames(frames: np.ndarray, sampling: FrameSampling) -> np.ndarray:
    """Bicubic resize (PIL antialiases when shrinking, like torchvision's antialias=True)."""
    height, width = frames.shape[1:3]
    new_h, new_w = resized_frame_size(height, width, sampling)
    if (new_h, new_w) == (height, width):
        return np.ascontiguousarray(frames)
    return np.stack([
        np.asarray(Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.BICUBIC))
        for frame in frames
    ])


def decode_video(file: Path, sampling: FrameSampling) -> SampledClip:
    from decord import VideoReader, cpu

    reader = VideoReader(str(file), ctx=cpu(0), num_threads=1)
    total, video_fps = len(reader), float(reader.get_avg_fps())
    indices, sample_fps = sample_frame_indices(total, video_fps, sampling)
    frames = reader.get_batch(indices.tolist()).asnumpy()
    return SampledClip(resize_frames(frames, sampling), indices, sample_fps, video_fps, total)


def decode_image(file: Path, sampling: FrameSampling) -> SampledClip:
    with Image.open(file) as image:
        frame = np.asarray(image.convert("RGB"))[None]
    return SampledClip(resize_frames(frame, sampling), np.zeros(1, dtype=np.int64), 0.0, 0.0, 1)


def decode_media(file: Path, data_type: str, sampling: FrameSampling) -> SampledClip:
    return decode_image(file, sampling) if data_type == "image" else decode_video(file, sampling)
