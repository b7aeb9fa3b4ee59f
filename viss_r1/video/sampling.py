"""Frame sampling and resizing, the qwen-vl-utils convention (METHOD.md §6).

Frames, one of two rules (qwen-vl-utils ``smart_nframes``), taken at
``linspace(0, total - 1, n).round()``:
- ``fps`` (default): ``fps`` per second of video, clamped to [min_frames, max_frames] and to what
  the video has, floored to an even count (Qwen2.5-VL merges 2 frames per temporal patch);
- ``num_frames`` (when set, it wins): that many frames whatever the clip's length or fps, rounded
  to an even count, spread over the whole clip. A clip with fewer frames gives all of them
  (floored to even), never repeated ones: what the release runs, its edited copy of the library
  having ``FPS_MIN_FRAMES = FPS_MAX_FRAMES = 32`` (``tests/unit/test_sampling_parity.py``).
Pixels: aspect ratio kept, sides multiples of 28 (each at least one 28-px patch), area in
[min_pixels, max_pixels] for video frames, [image_min_pixels, image_max_pixels] for images. The
release sets these by editing the installed library; here they are run config, logged with every
run.
"""

from __future__ import annotations

import math
import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

MAX_ASPECT_RATIO = 200  # qwen-vl-utils refuses more extreme frames


class FrameSampling(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 32
    min_pixels: int = 128 * 28 * 28   # Video-R1 training: min = max = 128·28·28 per frame
    max_pixels: int = 128 * 28 * 28
    frame_factor: int = 2             # frames per temporal patch
    size_factor: int = 28             # patch 14 × 2×2 spatial merge
    num_frames: int | None = None     # a fixed count (qwen-vl-utils ``nframes``); set, it wins over fps/min/max
    image_min_pixels: int | None = None   # images' pixel bounds; None: the video frames' (min_pixels)
    image_max_pixels: int | None = None   # None: max_pixels

    @model_validator(mode="after")
    def _check(self) -> FrameSampling:
        for name in ("fps", "min_frames", "max_frames", "min_pixels", "max_pixels", "frame_factor", "size_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FrameSampling.{name} must be positive, got {getattr(self, name)}")
        for name in ("num_frames", "image_min_pixels", "image_max_pixels"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"FrameSampling.{name} must be positive or None, got {getattr(self, name)}")
        if self.min_frames > self.max_frames:
            raise ValueError(f"FrameSampling: min_frames {self.min_frames} > max_frames {self.max_frames}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"FrameSampling: min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        if self.num_frames is not None and round_by_factor(self.num_frames, self.frame_factor) < self.frame_factor:
            raise ValueError(f"FrameSampling: num_frames {self.num_frames} rounds to "
                             f"{round_by_factor(self.num_frames, self.frame_factor)} frames; "
                             f"ask for at least {self.frame_factor} (frame_factor)")
        low, high = self.image_pixel_bounds
        if low > high:
            raise ValueError(f"FrameSampling: image pixel bounds {low} > {high} "
                             f"(image_min_pixels {self.image_min_pixels}, image_max_pixels {self.image_max_pixels}; "
                             f"None takes min_pixels {self.min_pixels} / max_pixels {self.max_pixels})")
        return self

    @property
    def fewest_frames(self) -> int:
        """The fewest frames a video may have and still be sampled: min_frames in fps mode; in
        num_frames mode a shorter clip gives all its frames, so one temporal patch (frame_factor)."""
        return self.min_frames if self.num_frames is None else self.frame_factor

    @property
    def image_pixel_bounds(self) -> tuple[int, int]:
        """(min, max) pixels of an image; the video frames' bounds where not set."""
        low = self.min_pixels if self.image_min_pixels is None else self.image_min_pixels
        high = self.max_pixels if self.image_max_pixels is None else self.image_max_pixels
        return low, high


def round_by_factor(number: float, factor: int) -> int:
    return round(number / factor) * factor  # Python's round: halves go to even, as in qwen-vl-utils


def ceil_by_factor(number: float, factor: int) -> int:
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    return math.floor(number / factor) * factor


def num_sampled_frames(total_frames: int, video_fps: float, sampling: FrameSampling) -> int:
    """How many frames to sample: qwen-vl-utils ``smart_nframes``, by ``num_frames`` when set,
    else by fps."""
    if video_fps <= 0:
        raise ValueError(f"video fps must be positive, got {video_fps}")
    factor = sampling.frame_factor
    if sampling.num_frames is not None:
        # qwen-vl-utils raises for a clip shorter than ``nframes``; the release never asks it
        # that way: its FPS_MIN_FRAMES = FPS_MAX_FRAMES = 32 give min(32, total), floored to even.
        n = min(round_by_factor(sampling.num_frames, factor), floor_by_factor(total_frames, factor))
        if n < factor:
            raise ValueError(f"video has {total_frames} frames, need ≥ {factor} (frame_factor) "
                             f"to sample num_frames {sampling.num_frames}")
        return n
    if total_frames < sampling.min_frames:
        raise ValueError(f"video has {total_frames} frames, need ≥ {sampling.min_frames} (min_frames)")
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
    area brought into [min_pixels, max_pixels] (checked once, before flooring/ceiling). Each side
    stays at least one patch after shrinking too, as transformers' Qwen2-VL image processor has
    it (the area may then pass max_pixels): qwen-vl-utils floors the short side of valid frames
    to 0 (1600×16 at 112·112 px, 4000×28 at 128·28·28) and the resize then fails."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}×{width}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"frame {height}×{width}: aspect ratio must be at most {MAX_ASPECT_RATIO}, "
                         f"got {max(height, width) / min(height, width):.1f}")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = max(factor, ceil_by_factor(height * beta, factor))
        w_bar = max(factor, ceil_by_factor(width * beta, factor))
    return h_bar, w_bar


def resized_frame_size(height: int, width: int, sampling: FrameSampling) -> tuple[int, int]:
    return smart_resize(height, width, sampling.size_factor, sampling.min_pixels, sampling.max_pixels)


def resized_image_size(height: int, width: int, sampling: FrameSampling) -> tuple[int, int]:
    return smart_resize(height, width, sampling.size_factor, *sampling.image_pixel_bounds)
