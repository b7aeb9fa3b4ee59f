"""The six pretext transformations of ViSS-R1 (METHOD.md §2).

Video: rotate, arrow, shuffle. Image: rotate, flip, puzzle.

- rotate  — every frame turned counter-clockwise by 0/90/180/270 degrees (90/270 swap H and W).
- arrow   — the frame order reversed (the arrow of time), drawn with P(reversed) = 0.55.
- shuffle — the frames split into 4 consecutive segments, exactly one pair of segments swapped.
- flip    — no flip, left-right mirror or top-bottom mirror.
- puzzle  — the image cut into a 2×2 grid (1 TL, 2 TR, 3 BL, 4 BR), exactly one pair swapped.

Each transformation is a multiple-choice question with a free, exact label: the option letter.
Frames are ``[T, C, H, W]`` arrays (images use T = 1); every transform has an exact inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPTION_LETTERS = "ABCDEF"
VIDEO_TRANSFORMS = ("rotate", "arrow", "shuffle")
IMAGE_TRANSFORMS = ("rotate", "flip", "puzzle")

ROTATE_DEGREES = (0, 90, 180, 270)
# Segment (shuffle) or grid-cell (puzzle) pairs, 1-based, in option order A–F.
SWAP_PAIRS = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
FLIP_MODES = ("none", "left-right", "top-bottom")
DEFAULT_ARROW_REVERSE_PROB = 0.55  # the release's draw; a config option upstream

NUM_SEGMENTS = 4
TRANSFORMS = {"video": VIDEO_TRANSFORMS, "image": IMAGE_TRANSFORMS}

# The parameter behind each option letter, in letter order.
_PARAMS = {
    "rotate": ROTATE_DEGREES,
    "arrow": (0, 1),                          # 0 forward, 1 reversed
    "shuffle": tuple(range(len(SWAP_PAIRS))),
    "flip": tuple(range(len(FLIP_MODES))),
    "puzzle": tuple(range(len(SWAP_PAIRS))),
}


def transform_params(media: str, name: str) -> tuple[int, ...]:
    """The parameters of a transform in option order (A, B, …); validates media and name."""
    if media not in TRANSFORMS:
        raise ValueError(f"unknown media {media!r}; choose from {', '.join(TRANSFORMS)}")
    if name not in TRANSFORMS[media]:
        raise ValueError(f"unknown {media} transform {name!r}; choose from {', '.join(TRANSFORMS[media])}")
    return _PARAMS[name]


def _letter_of(media: str, name: str, param: int) -> str:
    params = transform_params(media, name)
    if param not in params:
        raise ValueError(f"{media} {name}: parameter {param!r} is not one of {params}")
    return OPTION_LETTERS[params.index(param)]


@dataclass(frozen=True)
class TransformSpec:
    """One drawn transformation: ``param`` is degrees (rotate), 0/1 (arrow), an index into
    SWAP_PAIRS (shuffle, puzzle) or into FLIP_MODES (flip); ``letter`` is the correct option."""

    media: str
    name: str
    param: int
    letter: str

    def __post_init__(self) -> None:
        expected = _letter_of(self.media, self.name, self.param)
        if self.letter != expected:
            raise ValueError(f"{self.media} {self.name} {self.param}: letter is {expected}, not {self.letter!r}")

    @classmethod
    def of(cls, media: str, name: str, param: int) -> TransformSpec:
        param = int(param)
        return cls(media, name, param, _letter_of(media, name, param))


def draw_transform(
    media: str, name: str, rng: np.random.Generator, arrow_reverse_prob: float = DEFAULT_ARROW_REVERSE_PROB
) -> TransformSpec:
    """Draw the parameter: uniform over the options, except arrow (reversed with probability p).
    Shuffle and puzzle never draw the identity: every option swaps a pair."""
    params = transform_params(media, name)
    if name == "arrow":
        _check_prob(arrow_reverse_prob)
        return TransformSpec.of(media, name, int(rng.random() < arrow_reverse_prob))
    return TransformSpec.of(media, name, params[int(rng.integers(len(params)))])


def design_distribution(
    media: str, name: str, arrow_reverse_prob: float = DEFAULT_ARROW_REVERSE_PROB
) -> dict[str, float]:
    """Letter → probability under ``draw_transform``: what a label-balance check compares with."""
    params = transform_params(media, name)
    if name == "arrow":
        _check_prob(arrow_reverse_prob)
        return {"A": 1.0 - arrow_reverse_prob, "B": arrow_reverse_prob}
    return {OPTION_LETTERS[i]: 1.0 / len(params) for i in range(len(params))}


def _check_prob(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"arrow_reverse_prob must be in [0, 1], got {p}")


# ---- shuffle: 4 consecutive segments, one pair swapped ------------------------------------------

def shuffle_groups(num_frames: int) -> list[tuple[int, int]]:
    """The 4 segments as [start, stop) frame ranges; sizes differ by at most 1, earlier segments
    take the extra frames (the release assumes T divisible by 4; we accept any T ≥ 4)."""
    if num_frames < NUM_SEGMENTS:
        raise ValueError(f"shuffle needs at least {NUM_SEGMENTS} frames (one per segment), got {num_frames}")
    base, extra = divmod(num_frames, NUM_SEGMENTS)
    groups, start = [], 0
    for k in range(NUM_SEGMENTS):
        stop = start + base + (1 if k < extra else 0)
        groups.append((start, stop))
        start = stop
    return groups


def shuffle_permutation(num_frames: int, pair_index: int) -> np.ndarray:
    """Source index of each output frame. Segments of unequal size shift the ones between them,
    so the inverse is ``np.argsort`` of this, not the same swap again."""
    groups = shuffle_groups(num_frames)
    i, j = SWAP_PAIRS[pair_index]
    groups[i - 1], groups[j - 1] = groups[j - 1], groups[i - 1]
    return np.concatenate([np.arange(start, stop) for start, stop in groups])


# ---- puzzle: 2×2 grid, one pair of cells swapped ------------------------------------------------

def puzzle_cells(height: int, width: int) -> list[tuple[slice, slice]]:
    """(rows, cols) of cells 1 TL, 2 TR, 3 BL, 4 BR. Cells are floor(H/2) × floor(W/2) so any two
    can swap; an odd last row/column stays where it is."""
    h, w = height // 2, width // 2
    if h == 0 or w == 0:
        raise ValueError(f"puzzle needs frames of at least 2×2 pixels, got {height}×{width}")
    return [(slice(r, r + h), slice(c, c + w)) for r in (0, h) for c in (0, w)]


def _swap_cells(frames: np.ndarray, pair_index: int) -> np.ndarray:
    cells = puzzle_cells(*frames.shape[-2:])
    (ri, ci), (rj, cj) = (cells[k - 1] for k in SWAP_PAIRS[pair_index])
    out = frames.copy()
    out[..., ri, ci], out[..., rj, cj] = frames[..., rj, cj], frames[..., ri, ci]
    return out


# ---- apply / invert -----------------------------------------------------------------------------

def apply_transform(frames: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """The transformed frames, as a new C-contiguous array (never a view of the input: identity
    options and flips would otherwise hand back memory the caller still owns)."""
    return np.array(_transform(frames, spec, inverse=False), order="C")


def invert_transform(frames: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """Undo ``apply_transform``: ``invert_transform(apply_transform(x, s), s) == x`` exactly."""
    return np.array(_transform(frames, spec, inverse=True), order="C")


def _transform(frames: np.ndarray, spec: TransformSpec, inverse: bool) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be [T, C, H, W], got shape {frames.shape}")
    if spec.name == "rotate":
        # np.rot90 turns from the row axis towards the column axis: counter-clockwise on screen.
        turns = spec.param // 90
        return np.rot90(frames, k=-turns if inverse else turns, axes=(-2, -1))
    if spec.name == "arrow":
        return frames[::-1] if spec.param == 1 else frames
    if spec.name == "shuffle":
        order = shuffle_permutation(frames.shape[0], spec.param)
        return frames[np.argsort(order) if inverse else order]
    if spec.name == "flip":  # a mirror is its own inverse
        mode = FLIP_MODES[spec.param]
        if mode == "left-right":
            return frames[..., ::-1]
        if mode == "top-bottom":
            return frames[..., ::-1, :]
        return frames
    if spec.name == "puzzle":  # swapping two equal cells is its own inverse
        return _swap_cells(frames, spec.param)
    raise ValueError(f"unknown transform {spec.name!r}")
