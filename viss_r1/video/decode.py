"""Decode the sampled frames of one clip (decord, one batched read) or one image, and resize them
the qwen-vl-utils way (``viss_r1.video.resize``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from viss_r1.video.resize import resize_frames
from viss_r1.video.sampling import FrameSampling, sample_frame_indices


@dataclass
class SampledClip:
    frames: np.ndarray          # [T, H, W, 3] uint8, already resized
    frame_indices: np.ndarray   # indices into the source video (presentation order)
    sample_fps: float           # frames per second of the sampled sequence
    video_fps: float
    total_frames: int


def decode_video(file: Path, sampling: FrameSampling) -> SampledClip:
    from decord import VideoReader, cpu

    reader = VideoReader(str(file), ctx=cpu(0), num_threads=1)
    total, video_fps = len(reader), float(reader.get_avg_fps())
    indices, sample_fps = sample_frame_indices(total, video_fps, sampling)
    frames = reader.get_batch(indices.tolist()).asnumpy()
    return SampledClip(resize_frames(frames, sampling), indices, sample_fps, video_fps, total)


def decode_image(file: Path, sampling: FrameSampling) -> SampledClip:
    """One image, resized within the images' pixel bounds (the release: 4·28·28 to 256·28·28,
    apart from its video frames')."""
    with Image.open(file) as image:
        frame = np.asarray(image.convert("RGB"))[None]
    return SampledClip(resize_frames(frame, sampling, image=True), np.zeros(1, dtype=np.int64), 0.0, 0.0, 1)


def decode_media(file: Path, data_type: str, sampling: FrameSampling) -> SampledClip:
    return decode_image(file, sampling) if data_type == "image" else decode_video(file, sampling)
