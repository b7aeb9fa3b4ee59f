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
