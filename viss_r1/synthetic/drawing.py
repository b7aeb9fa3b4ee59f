"""Cheap numpy/PIL drawing primitives for the synthetic clips.

Frames are ``[H, W, 3]`` uint8 arrays drawn in place. Every shape is rasterised only inside its
bounding box, so a 32-frame clip costs a few milliseconds; edges are hard (no anti-aliasing) so
the same parameters always give the same pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]

SHAPES = ("ball", "square", "triangle")


def canvas(height: int, width: int, colour: Colour) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = colour
    return frame


def mix(colour: Colour, other: Colour, weight: float) -> Colour:
    """``weight`` of ``colour`` blended with ``other`` (used for dim trails)."""
    return tuple(int(round(weight * a + (1 - weight) * b)) for a, b in zip(colour, other))


def _box(frame: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    """Integer bounds of [x0, x1) × [y0, y1) clipped to the frame, or None when empty."""
    h, w = frame.shape[:2]
    ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    ix1, iy1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if ix0 >= ix1 or iy0 >= iy1:
        return None
    return ix0, iy0, ix1, iy1


def fill_rect(frame: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
    box = _box(frame, round(x0), round(y0), round(x1), round(y1))
    if box is not None:
        ix0, iy0, ix1, iy1 = box
        frame[iy0:iy1, ix0:ix1] = colour


def _paint(frame: np.ndarray, box, mask: np.ndarray, colour: Colour) -> None:
    ix0, iy0, ix1, iy1 = box
    frame[iy0:iy1, ix0:ix1][mask] = colour


def _grid(box):
    ix0, iy0, ix1, iy1 = box
    # Pixel centres, so a disc at (cx, cy) is symmetric about that point.
    return np.arange(ix0, ix1)[None, :] + 0.5, np.arange(iy0, iy1)[:, None] + 0.5


def draw_disc(frame: np.ndarray, cx: float, cy: float, r: float, colour: Colour) -> None:
    box = _box(frame, cx - r, cy - r, cx + r, cy + r)
    if box is not None:
        xs, ys = _grid(box)
        _paint(frame, box, (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r, colour)


def draw_triangle(frame: np.ndarray, cx: float, cy: float, r: float, colour: Colour) -> None:
    """Isosceles triangle with its apex up: an orientation cue of its own."""
    box = _box(frame, cx - r, cy - r, cx + r, cy + r)
    if box is not None:
        xs, ys = _grid(box)
        # Half-width grows linearly from the apex (cy - r) to the base (cy + r).
        half = (ys - (cy - r)) * 0.5
        _paint(frame, box, (np.abs(xs - cx) <= half) & (ys <= cy + r), colour)


def draw_shape(frame: np.ndarray, shape: str, cx: float, cy: float, r: float, colour: Colour) -> None:
    """A ball, square or triangle of half-size ``r`` centred on (cx, cy)."""
    if shape == "ball":
        draw_disc(frame, cx, cy, r, colour)
    elif shape == "square":
        fill_rect(frame, cx - r, cy - r, cx + r, cy + r, colour)
    elif shape == "triangle":
        draw_triangle(frame, cx, cy, r, colour)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def draw_segment(
    frame: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], r: float, colour: Colour
) -> None:
    """A thick line with round caps: one stroke of a trail."""
    (x0, y0), (x1, y1) = p0, p1
    box = _box(frame, min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r, max(y0, y1) + r)
    if box is None:
        return
    xs, ys = _grid(box)
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    u = 0.0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
    _paint(frame, box, (xs - x0 - u * dx) ** 2 + (ys - y0 - u * dy) ** 2 <= r * r, colour)


def draw_ground(frame: np.ndarray, ground_y: int, band: Colour, line: Colour, line_width: int) -> None:
    """Floor band from ``ground_y`` to the bottom, topped by a bright line (the rotation cue)."""
    frame[ground_y:] = band
    frame[ground_y : ground_y + line_width] = line


def draw_progress_bar(frame: np.ndarray, fraction: float, height: int, fill: Colour, track: Colour) -> None:
    """Top-edge bar that only ever fills left to right: an arrow-of-time cue in every scene."""
    width = frame.shape[1]
    filled = int(round(np.clip(fraction, 0.0, 1.0) * width))
    frame[:height] = track
    frame[:height, :filled] = fill


@lru_cache(maxsize=None)
def _font() -> ImageFont.ImageFont:
    # The bitmap font ships inside Pillow, so glyphs are identical on every machine (the FreeType
    # default that `load_default()` returns on newer Pillow depends on the installed FreeType).
    loader = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)
    return loader()


@lru_cache(maxsize=None)
def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """Boolean ink mask of ``text`` (cropped to its ink), enlarged ``scale`` times by pixel repetition."""
    font = _font()
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(image).text((-left, -top), text, fill=255, font=font)
    ink = np.asarray(image) > 127
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return np.zeros((0, 0), dtype=bool)
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    mask = ink.repeat(scale, axis=0).repeat(scale, axis=1)
    mask.flags.writeable = False  # cached: callers must not change it
    return mask


def draw_mask(frame: np.ndarray, mask: np.ndarray, x0: int, y0: int, colour: Colour) -> None:
    """Paint ``mask`` with its top-left corner at (x0, y0), clipped to the frame."""
    h, w = mask.shape
    box = _box(frame, x0, y0, x0 + w, y0 + h)
    if box is not None:
        ix0, iy0, ix1, iy1 = box
        _paint(frame, box, mask[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0], colour)
