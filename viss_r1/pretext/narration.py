"""A chain of thought that starts from the transformed clip, for SSL-CoT rows whose transform we drew.

The release's SSL-CoT data replaces each record's ``process`` with reasoning written on the
transformed media, which reaches the true transform and then the true answer (METHOD.md §6). A row
whose transform the pipeline drew itself still holds the reasoning about the original clip: shown a
reversed clip, the model would be taught "it moves to the right" while the pixels move left, and
learn to ignore the direction it sees. Prefacing the thought with the transform, and saying that
what follows is the clip undone, makes the reasoning consistent with what the model is shown:
"The clip plays backwards; in its true order: …".
"""

from __future__ import annotations

from viss_r1.pretext.transforms import FLIP_MODES, SWAP_PAIRS, TransformSpec

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
