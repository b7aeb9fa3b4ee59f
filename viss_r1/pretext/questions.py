"""Pretext questions (METHOD.md §2, §3): what was done to the media, the options, and where to look.

Option letters and their order come from ``transforms.py`` — the one source of truth — so the
letter a question offers is always the letter ``TransformSpec`` records as correct.
"""

from __future__ import annotations

from viss_r1.pretext.transforms import (
    FLIP_MODES,
    OPTION_LETTERS,
    SWAP_PAIRS,
    shuffle_groups,
    transform_params,
)

# Where the model should look for each transform: spatial cues for the image-plane transforms,
# the direction of time for arrow, the seams between segments for shuffle.
FOCUS_PHRASES = {
    "rotate": "Focus on spatial cues such as gravity, the horizon, upright people and objects, and text.",
    "flip": "Focus on spatial cues such as the direction of text, where the sky and ground are, and the usual layout of the scene.",
    "puzzle": "Focus on spatial cues such as edges, lines and objects that should continue across the borders between pieces.",
    "arrow": "Focus on temporal order: whether motions, causes and effects unfold the way they naturally do.",
    "shuffle": "Focus on temporal continuity: where motion jumps or the scene changes abruptly between segments.",
}

_FLIP_TEXT = {"none": "no flip", "left-right": "flipped left-right", "top-bottom": "flipped top-bottom"}
_ARROW_TEXT = ("not reversed (the video plays forward)", "reversed (the video plays backward)")


def transform_options(media: str, name: str) -> list[str]:
    """The options as they appear in the question: ``["A. 0 degrees", "B. 90 degrees", …]``."""
    params = transform_params(media, name)
    if name == "rotate":
        texts = [f"{degrees} degrees" for degrees in params]
    elif name == "arrow":
        texts = [_ARROW_TEXT[p] for p in params]
    elif name == "shuffle":
        texts = [f"segments {i} and {j}" for i, j in (SWAP_PAIRS[p] for p in params)]
    elif name == "puzzle":
        texts = [f"pieces {i} and {j}" for i, j in (SWAP_PAIRS[p] for p in params)]
    else:  # flip
        texts = [_FLIP_TEXT[FLIP_MODES[p]] for p in params]
    return [f"{letter}. {text}" for letter, text in zip(OPTION_LETTERS, texts)]


def _frame_range(start: int, stop: int) -> str:
    """A [start, stop) range as 1-based inclusive frame numbers."""
    return f"frame {start + 1}" if stop - start == 1 else f"frames {start + 1}-{stop}"


def _shuffle_segments(num_frames: int) -> str:
    return ", ".join(
        f"segment {k} = {_frame_range(start, stop)}" for k, (start, stop) in enumerate(shuffle_groups(num_frames), 1)
    )


def pretext_question(media: str, name: str, num_frames: int | None = None) -> str:
    """The full multiple-choice pretext question, ending with "Options:" and one option per line.
    ``num_frames`` (the sampled frame count) is needed for video shuffle, to name the segments."""
    options = transform_options(media, name)  # validates media and name first
    subject = "this video" if media == "video" else "this image"
    if name == "rotate":
        what = "Every frame of this video was" if media == "video" else "This image was"
        stem = (f"{what} rotated counter-clockwise by one of the angles below (0 degrees means it was not "
                f"rotated). By how many degrees was {subject} rotated counter-clockwise?")
    elif name == "arrow":
        stem = "This video may have been reversed so that it plays backward. Is the video reversed?"
    elif name == "shuffle":
        if num_frames is None:
            raise ValueError("the video shuffle question names its segments: pass num_frames (the sampled frame count)")
        stem = (f"The {num_frames} frames of this video were split, in their original order, into 4 consecutive "
                f"segments: {_shuffle_segments(num_frames)}. Then exactly two segments swapped places. "
                "Which two segments were swapped?")
    elif name == "flip":
        stem = "This image may have been flipped (mirrored). Which flip was applied to the image?"
    else:  # puzzle
        stem = ("This image was cut into a 2x2 grid of equal pieces, numbered 1 (top-left), 2 (top-right), "
                "3 (bottom-left) and 4 (bottom-right), and exactly two pieces swapped places. "
                "Which two pieces were swapped?")
    return f"{stem} {FOCUS_PHRASES[name]}\nOptions:\n" + "\n".join(options)
