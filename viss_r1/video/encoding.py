"""Frames ↔ encoded images (JPEG or PNG): how the frame cache stores frames and how the vLLM
client sends them (vLLM's raw-frame video is a JPEG sequence)."""

from __future__ import annotations

import io
from typing import Iterable

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, model_validator


class FrameEncoding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = "jpeg"   # jpeg | png
    quality: int = 95      # jpeg only

    @model_validator(mode="after")
    def _check(self) -> FrameEncoding:
        if self.format not in ("jpeg", "png"):
            raise ValueError(f"frame encoding {self.format!r} is not supported; use 'jpeg' or 'png'")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"jpeg quality {self.quality} must be in 1..100")
        return self


def encode_frame(frame: np.ndarray, encoding: FrameEncoding) -> bytes:
    """One [H, W, 3] uint8 frame as image bytes."""
    buffer = io.BytesIO()
    if encoding.format == "jpeg":
        Image.fromarray(frame).save(buffer, format="JPEG", quality=encoding.quality)
    else:
        Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_frames(encoded: Iterable[bytes]) -> np.ndarray:
    """Image bytes → [T, H, W, 3] uint8 frames."""
    return np.stack([np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in encoded])
