"""A picture of a few transformed clips (one row each, frames left to right) so a reader can
see at a glance what the model is asked to recognise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 14


def frame_strip(clips: list[tuple[str, np.ndarray]], out: Path, thumb: int = 56, max_frames: int = 16) -> Path:
    """``clips`` is a list of (label, frames [T, C, H, W]); writes a PNG and returns its path."""
    rows = []
    for label, frames in clips:
        frames = frames[:max_frames]
        tiles = [Image.fromarray(np.ascontiguousarray(f.transpose(1, 2, 0))).resize((thumb, thumb)) for f in frames]
        row = Image.new("RGB", (thumb * max_frames, thumb + LABEL_HEIGHT), "white")
        ImageDraw.Draw(row).text((2, 1), label, fill="black")
        for column, tile in enumerate(tiles):
            row.paste(tile, (column * thumb, LABEL_HEIGHT))
        rows.append(row)
    height = sum(r.height for r in rows) or 1
    sheet = Image.new("RGB", (thumb * max_frames, height), "white")
    top = 0
    for row in rows:
        sheet.paste(row, (0, top))
        top += row.height
    sheet.save(out)
    return out
