"""Pretext-sample row → transformed frames + the timing the Qwen2.5-VL processor needs.

The metadata always describes the *presentation* timeline of the sampled frames (source fps and
indices): a reversed or shuffled clip keeps its timing, so the transform can only be seen in the
pixels. Without metadata the processor assumes 24 fps and temporal positions collapse
(METHOD.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.pretext.transforms import TransformSpec, apply_transform


@dataclass
class PretextClip:
    frames: np.ndarray               # [T, C, H, W] uint8, transformed
    spec: TransformSpec
    video_metadata: dict[str, Any]   # transformers VideoMetadata fields; empty for images


def spec_of(row: Mapping[str, Any]) -> TransformSpec:
    return TransformSpec.of(row["transform_media"], row["transform_name"], int(row["transform_param"]))


def load_pretext_clip(row: Mapping[str, Any], cache: FrameCacheReader, transform: bool = True) -> PretextClip:
    """``transform=False`` gives the original clip (the same frames the spec applies to)."""
    frames, timing = load_clip(row["fingerprint"], cache)
    spec = spec_of(row)
    if transform:
        frames = apply_transform(frames, spec)
    metadata = clip_metadata(timing, frames) if row["data_type"] == "video" else {}
    return PretextClip(frames=frames, spec=spec, video_metadata=metadata)


def load_clip(fingerprint: str, cache: FrameCacheReader) -> tuple[np.ndarray, dict[str, Any]]:
    """A cached clip as ``[T, C, H, W]`` uint8 frames and its source timing (fps, total frame
    count, the indices the frames were sampled at)."""
    clip = cache.load(fingerprint)
    frames = np.ascontiguousarray(clip.frames.transpose(0, 3, 1, 2))  # [T,H,W,C] → [T,C,H,W]
    timing = {"total_num_frames": int(clip.total_frames), "fps": float(clip.video_fps),
              "frames_indices": clip.frame_indices.tolist()}
    return frames, timing


def clip_metadata(timing: Mapping[str, Any], frames: np.ndarray) -> dict[str, Any]:
    """transformers ``VideoMetadata`` fields for frames shown on the source timeline ``timing``."""
    fps = timing["fps"]
    return {
        **timing,
        "duration": float(timing["total_num_frames"] / fps) if fps else None,
        "height": int(frames.shape[2]),
        "width": int(frames.shape[3]),
    }
