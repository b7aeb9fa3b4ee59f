"""Frame sampling and resizing, the qwen-vl-utils convention (METHOD.md §6).

Frames: ``fps`` per second of video, clamped to [min_frames, max_frames] and to what the video
has, floored to an even count (Qwen2.5-VL merges 2 frames per temporal patch), taken at
``linspace(0, total - 1, n).round()``. Pixels: aspect ratio kept, sides multiples of 28, area in
[min_pixels, max_pixels]. The release sets these by editing the installed library; here they are
run config, logged with every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_ASPECT_RATIO = 200  # qwen-vl-utils refuses more extreme frames


@dataclass(frozen=True)
class FrameSampling:
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 32
    min_pixels: int = 128 * 28 * 28   # Video-R1 training: min = max = 128·28·28 per frame
    max_pixels: int = 128 * 28 * 28
    frame_factor: int = 2             # frames per temporal patch
    size_factor: int = 28             # patch 14 × 2×2 spatial merge

    def __post_init__(self) -> None:
        for name in ("fps", "min_frames", "max_frames", "min_pixels", "max_pixels", "frame_factor", "size_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FrameSampling.{name} must be positive, got {getattr(self, name)}")
        if self.min_frames > self.max_frames:
            raise ValueError(f"FrameSampling: min_frames {self.min_frames} > max_frames {self.max_frames}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"FrameSampling: min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")


def round_by_factor(number: float, factor: int) -> int:
    return round(number / factor) * factor  # Python's round: halves go to even, as in qwen-vl-utils


def ceil_by_factor(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def num_sampled_frames(total_frames: int, video_fps: float, sampling: FrameSampling) -> int:
    """How many frames to sample: qwen-vl-utils ``smart_nframes`` with fps-based sampling."""
    if video_fps <= 0:
        raise ValueError(f"video fps must be positive, got {video_fps}")
    if total_frames < sampling.min_frames:
        raise ValueError(f"video has {total_frames} frames, need ≥ {sampling.min_frames} (min_frames)")
    factor = sampling.frame_factor
    min_frames = ceil_by_factor(sampling.min_frames, factor)
    max_frames = floor_by_factor(min(sampling.max_frames, total_frames), factor)
    wanted = total_frames / video_fps * sampling.fps
    n = floor_by_factor(min(max(wanted, min_frames), max_frames, total_frames), factor)
    if not factor <= n <= total_frames:
        raise ValueError(f"sampling {total_frames} frames at {video_fps} fps gives {n} frames, "
                         f"need between {factor} (frame_factor) and {total_frames}")
    return n


def sample_frame_indices(total_frames: int, video_fps: float, sampling: FrameSampling) -> tuple[np.ndarray, float]:
    """(indices into the video, fps of the sampled sequence). The sampled fps is what the
    processor must be told; without it Qwen2.5-VL assumes 24 fps (METHOD.md §9)."""
    n = num_sampled_frames(total_frames, video_fps, sampling)
    indices = np.linspace(0, total_frames - 1, n).round().astype(np.int64)
    return indices, n / total_frames * video_fps


def smart_resize(
    height: int, width: int, factor: int = 28, min_pixels: int = 128 * 28 * 28, max_pixels: int = 128 * 28 * 28
) -> tuple[int, int]:
    """qwen-vl-utils ``smart_resize``: sides multiples of ``factor``, aspect ratio about kept,
    area brought into [min_pixels, max_pixels] (checked once, before flooring/ceiling)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}×{width}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"frame {height}×{width}: aspect ratio must be at most {MAX_ASPECT_RATIO}, "
                         f"got {max(height, width) / min(height, width):.1f}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def resized_frame_size(height: int, width: int, sampling: FrameSampling) -> tuple[int, int]:
    return smart_resize(height, width, sampling.size_factor, sampling.min_pixels, sampling.max_pixels)
