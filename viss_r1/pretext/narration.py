"""A chain of thought that starts from the transformed clip, for SSL-CoT rows whose transform we drew.

The release's SSL-CoT data replaces each record's ``process`` with reasoning written on the
transformed media, which reaches the true transform and then the true answer (METHOD.md §6). A row
whose transform the pipeline drew itself still holds the reasoning about the original clip: shown a
reversed clip, the model would be taught "it moves to the right" while the pixels move left, and
learn to ignore the direction it sees. Prefacing the thought with the transform, and saying that
what follows is the clip undone, makes the reasoning consistent with what the model is shown:
"The clip plays backwards; in its true order: …".

A record may also carry reasoning written for each transformed view of its clip (``VIEWS_FIELD``,
keyed by ``view_key``), as an annotator shown the transformed clip writes it: what is seen on
screen, then the same thing undone ("On screen it moves up. Turned back upright, it moves right").
Such a thought agrees with the pixels the model is shown *and* with the answer; the prefaced one
agrees only with the answer. ``turned_direction`` and ``turned_place`` say where a motion or a place
goes when the clip is rotated.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from viss_r1.pretext.transforms import FLIP_MODES, SWAP_PAIRS, TransformSpec

# The record field holding reasoning per transformed view: {view_key(spec): "<think>…</think>"}.
VIEWS_FIELD = "process_on_transformed"

# Screen places and directions as (x, y) with y up; a counter-clockwise turn by 90 degrees takes
# (x, y) to (-y, x), as viss_r1.pretext.transforms rotates (np.rot90: counter-clockwise on screen).
_SCREEN = {
    "left": (-1, 0), "right": (1, 0), "up": (0, 1), "down": (0, -1),
    "top": (0, 1), "bottom": (0, -1), "middle": (0, 0),
}
_PLACE_WORDS = ("left", "right", "top", "bottom", "middle")
_DIRECTION_WORDS = ("left", "right", "up", "down")

_ROTATION = {
    0: "The clip is upright, not rotated.",
    90: "The clip is turned 90 degrees counter-clockwise; turned back upright:",
    180: "The clip is upside down; turned back upright:",
    270: "The clip is turned 90 degrees clockwise; turned back upright:",
}
_IMAGE_ROTATION = {degrees: text.replace("clip", "image") for degrees, text in _ROTATION.items()}
_FLIP = {
    "none": "The image is not mirrored.",
    "left-right": "The image is mirrored left to right; mirrored back:",
    "top-bottom": "The image is mirrored top to bottom; mirrored back:",
}


def transform_sentence(spec: TransformSpec) -> str:
    """What the transformed clip shows about its transform, and (unless it is the identity) that the
    reasoning after it describes the clip undone."""
    if spec.name == "rotate":
        return (_ROTATION if spec.media == "video" else _IMAGE_ROTATION)[spec.param]
    if spec.name == "arrow":
        return "The clip plays backwards; in its true order:" if spec.param else "The clip plays forwards."
    if spec.name == "shuffle":
        first, second = SWAP_PAIRS[spec.param]
        return f"Segments {first} and {second} of the clip are swapped; put back in order:"
    if spec.name == "flip":
        return _FLIP[FLIP_MODES[spec.param]]
    if spec.name == "puzzle":
        first, second = SWAP_PAIRS[spec.param]
        return f"Pieces {first} and {second} of the image are swapped; put back in place:"
    raise ValueError(f"no sentence for the {spec.media} transform {spec.name!r}")


def thought_on_transformed_clip(process: str, spec: TransformSpec) -> str:
    """``process`` (a Video-R1 chain of thought, with or without its <think> tags) prefaced by the
    transform's sentence, as "<think>…</think>"."""
    inner = process.strip().removeprefix("<think>").removesuffix("</think>").strip()
    if not inner:
        raise ValueError(f"process {process!r} has no chain of thought to preface")
    return f"<think>{transform_sentence(spec)} {inner}</think>"


def view_key(spec: TransformSpec) -> str:
    """``"rotate/90"``, ``"arrow/1"``: the key of a transformed view in a record's ``VIEWS_FIELD``."""
    return f"{spec.name}/{spec.param}"


def turned_direction(direction: str, degrees: int) -> str:
    """The way (left, right, up, down) a motion is seen once the clip is turned ``degrees``
    counter-clockwise: ``turned_direction("right", 90) == "up"``."""
    return _turned(direction, degrees, _DIRECTION_WORDS)


def turned_place(place: str, degrees: int) -> str:
    """Where a place (left, right, top, bottom, middle) is seen once the clip is turned ``degrees``
    counter-clockwise: ``turned_place("left", 90) == "bottom"``."""
    return _turned(place, degrees, _PLACE_WORDS)


def _turned(word: str, degrees: int, words: tuple[str, ...]) -> str:
    if word not in words or degrees % 90:
        raise ValueError(f"cannot turn {word!r} by {degrees} degrees")
    x, y = _SCREEN[word]
    for _ in range(degrees // 90 % 4):
        x, y = -y, x
    return next(w for w in words if _SCREEN[w] == (x, y))


def thought_on_view(spec: TransformSpec, seen: str, undone: str) -> str:
    """A thought about a rotated or reversed clip that says what is on screen, then what the clip
    shows undone: "<think>The clip plays backwards. On screen, {seen}. In its true order, {undone}</think>"."""
    if spec.name == "rotate" and spec.param:
        opening, undo = transform_sentence(spec).split(";")[0] + ".", "Turned back upright"
    elif spec.name == "arrow" and spec.param:
        opening, undo = "The clip plays backwards.", "In its true order"
    else:
        raise ValueError(f"no on-screen view to undo for {spec.media} {spec.name} {spec.param}")
    return f"<think>{opening} On screen, {seen}. {undo}, {undone}</think>"


def views_of(row: Mapping[str, Any]) -> Mapping[str, str]:
    """The reasoning per transformed view a row's record carries (``VIEWS_FIELD`` in its ``extra``
    JSON), empty when it has none."""
    views = json.loads(row.get("extra") or "{}").get(VIEWS_FIELD, {})
    if not isinstance(views, dict) or not all(isinstance(v, str) for v in views.values()):
        raise ValueError(f"record {row.get('problem_id')!r}: {VIEWS_FIELD} must map a view key to a thought, got {views!r}")
    return views


def thought_for_row(process: str, spec: TransformSpec, views: Mapping[str, str]) -> str:
    """The record's reasoning written for this view when it has one, else ``process`` prefaced by
    the transform's sentence."""
    return views.get(view_key(spec)) or thought_on_transformed_clip(process, spec)
