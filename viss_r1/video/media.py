"""One sample's media as the model is shown it: frames and their timing.

What the data layer hands the modeling layer (``viss_r1.data.requests`` builds it from a table row
and the frame cache; ``viss_r1.modeling.video_inputs`` turns it into model inputs), so modeling
takes frames and never reads a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass
class MediaInput:
    """One sample's media: ``frames`` [T, C, H, W] uint8 (T = 1 for an image), or None (the no-video probe)."""

    data_type: str | None                 # "video", "image" or None
    frames: np.ndarray | None = None
    video_metadata: Mapping[str, Any] = field(default_factory=dict)


def uniform_frames(frames: np.ndarray) -> np.ndarray:
    """Frames of ``frames``' shape and dtype ([T, C, H, W]), every pixel the clip's background
    colour (its per-channel median): the clip's input shape with nothing in it — the blind
    probe's media (``viss_r1.evaluate.probes``) and the SFT's empty clips
    (``viss_r1.train.sft_data``). The background, not a fixed grey: a small model fed a colour it never saw
    stops writing the asked format (measured: a tiny SFT model answered grey frames with one
    repeated word, 0 % format, and kept 100 % format on background-coloured ones), and a probe of
    knowledge must not read breakage as reliance on the pixels."""
    background = np.median(frames.reshape(frames.shape[0], frames.shape[1], -1), axis=(0, 2))
    return np.broadcast_to(background.round().astype(frames.dtype)[None, :, None, None], frames.shape).copy()
