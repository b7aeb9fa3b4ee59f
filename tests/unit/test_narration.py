"""SSL-CoT rows whose transform was drawn here: the thought starts with the transform, the rest reads
as the clip undone, and only the transform's own parameter changes the sentence; a record's thought
written for the view is taken instead, and its words for a rotated clip match the turned pixels."""

import numpy as np
import pytest

from viss_r1.pretext.narration import (
    thought_for_row,
    thought_on_transformed_clip,
    thought_on_view,
    transform_sentence,
    turned_direction,
    turned_place,
    view_key,
)
from viss_r1.pretext.transforms import TRANSFORMS, TransformSpec, apply_transform, transform_params

EVERY_SPEC = [TransformSpec.of(media, name, param)
              for media, names in TRANSFORMS.items() for name in names for param in transform_params(media, name)]


def test_every_transform_and_parameter_has_a_sentence_of_its_own():
    sentences = {(spec.media, spec.name, spec.param): transform_sentence(spec) for spec in EVERY_SPEC}
    for media, names in TRANSFORMS.items():
        for name in names:
            own = [text for (m, n, _), text in sentences.items() if (m, n) == (media, name)]
            assert len(set(own)) == len(own), (media, name, own)   # the letter can be read off the words


@pytest.mark.parametrize(("spec", "sentence"), [
    (TransformSpec.of("video", "arrow", 1), "The clip plays backwards; in its true order:"),
    (TransformSpec.of("video", "arrow", 0), "The clip plays forwards."),
    (TransformSpec.of("video", "rotate", 90), "The clip is turned 90 degrees counter-clockwise; turned back upright:"),
    (TransformSpec.of("video", "rotate", 270), "The clip is turned 90 degrees clockwise; turned back upright:"),
    (TransformSpec.of("video", "shuffle", 5), "Segments 3 and 4 of the clip are swapped; put back in order:"),
    (TransformSpec.of("image", "rotate", 180), "The image is upside down; turned back upright:"),
    (TransformSpec.of("image", "flip", 1), "The image is mirrored left to right; mirrored back:"),
    (TransformSpec.of("image", "puzzle", 0), "Pieces 1 and 2 of the image are swapped; put back in place:"),
])
def test_the_sentence_names_the_drawn_parameter(spec, sentence):
    assert transform_sentence(spec) == sentence


def test_an_identity_says_nothing_was_undone_and_every_other_parameter_does():
    for spec in EVERY_SPEC:
        identity = (spec.name in ("rotate", "arrow") and spec.param == 0) or (spec.name == "flip" and spec.param == 0)
        assert transform_sentence(spec).endswith(".") == identity, spec


def test_the_thought_keeps_the_record_reasoning_after_the_sentence_inside_one_think():
    spec = TransformSpec.of("video", "arrow", 1)
    thought = thought_on_transformed_clip("<think>It moves left, option A.</think>", spec)
    assert thought == "<think>The clip plays backwards; in its true order: It moves left, option A.</think>"
    assert thought_on_transformed_clip(" It moves left. ", spec) == thought.replace(", option A", "")
    with pytest.raises(ValueError, match="no chain of thought"):
        thought_on_transformed_clip("<think> </think>", spec)


def _dot_clip(place: tuple[int, int], step: tuple[int, int], size: int = 9, frames: int = 4) -> np.ndarray:
    """[T, 1, H, W]: one bright pixel starting at ``place`` (x, y with y up, from the centre) and
    moving by ``step`` each frame."""
    clip = np.zeros((frames, 1, size, size), dtype=np.uint8)
    centre = size // 2
    for t in range(frames):
        x, y = place[0] + t * step[0], place[1] + t * step[1]
        clip[t, 0, centre - y, centre + x] = 255
    return clip


def _seen(clip: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """(where the dot starts, how it moves), as ``_dot_clip`` takes them, read off the pixels."""
    centre = clip.shape[-1] // 2
    spots = [np.argwhere(frame[0] == 255)[0] for frame in clip]
    (r0, c0), (r1, c1) = spots[0], spots[1]
    return (int(c0 - centre), int(centre - r0)), (int(c1 - c0), int(r0 - r1))


SCREEN = {"left": (-1, 0), "right": (1, 0), "up": (0, 1), "down": (0, -1),
          "top": (0, 1), "bottom": (0, -1), "middle": (0, 0)}


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_turning_says_where_the_rotate_transform_puts_a_direction_and_a_place(degrees):
    """Checked against the pixels apply_transform turns, not against a second table."""
    spec = TransformSpec.of("video", "rotate", degrees)
    for direction in ("left", "right", "up", "down"):
        _, moves = _seen(apply_transform(_dot_clip((0, 0), SCREEN[direction]), spec))
        assert moves == SCREEN[turned_direction(direction, degrees)], (direction, degrees)
    for place in ("left", "right", "middle"):
        start = tuple(3 * c for c in SCREEN[place])
        where, _ = _seen(apply_transform(_dot_clip(start, (0, 1)), spec))
        assert where == tuple(3 * c for c in SCREEN[turned_place(place, degrees)]), (place, degrees)


def test_turning_refuses_what_it_cannot_turn():
    with pytest.raises(ValueError, match="cannot turn"):
        turned_direction("top", 90)     # a place, not a way
    with pytest.raises(ValueError, match="cannot turn"):
        turned_place("up", 90)          # a way, not a place
    with pytest.raises(ValueError, match="cannot turn"):
        turned_direction("left", 45)


def test_a_view_thought_says_what_is_on_screen_then_the_clip_undone():
    assert thought_on_view(TransformSpec.of("video", "rotate", 90), "it moves up", "it moves right.") == (
        "<think>The clip is turned 90 degrees counter-clockwise. On screen, it moves up. "
        "Turned back upright, it moves right.</think>")
    assert thought_on_view(TransformSpec.of("video", "arrow", 1), "it sinks", "it rises.") == (
        "<think>The clip plays backwards. On screen, it sinks. In its true order, it rises.</think>")
    for identity in (TransformSpec.of("video", "rotate", 0), TransformSpec.of("video", "arrow", 0),
                     TransformSpec.of("video", "shuffle", 2)):
        with pytest.raises(ValueError, match="no on-screen view"):
            thought_on_view(identity, "it moves", "it moves.")


def test_a_row_takes_the_thought_written_for_its_view_and_else_the_prefaced_reasoning():
    views = {"arrow/1": "<think>The clip plays backwards. On screen, X. In its true order, Y.</think>"}
    reversed_, forwards = TransformSpec.of("video", "arrow", 1), TransformSpec.of("video", "arrow", 0)
    assert view_key(reversed_) == "arrow/1"
    assert thought_for_row("<think>Y.</think>", reversed_, views) == views["arrow/1"]
    assert thought_for_row("<think>Y.</think>", forwards, views) == "<think>The clip plays forwards. Y.</think>"
    assert thought_for_row("<think>Y.</think>", reversed_, {}) == "<think>The clip plays backwards; in its true order: Y.</think>"


def test_the_tokenizer_corpus_holds_the_thought_a_transformed_row_is_trained_on():
    import json

    from viss_r1.modeling.corpus import tokenizer_corpus

    written = "<think>The clip plays backwards. On screen, it sinks. In its true order, it rises.</think>"
    row = {"problem": "Which one of the shapes moves?", "problem_type": "multiple choice", "options": ["A. left", "B. right"],
           "process": "<think>It rises.</think>", "solution": "<answer>A</answer>", "data_type": "video",
           "transform_media": "video", "transform_name": "arrow", "transform_param": 1, "transform_letter": "B",
           "pretext_question": "Is the clip reversed?", "extra": json.dumps({"process_on_transformed": {"arrow/1": written}})}
    assert written in list(tokenizer_corpus([row]))
    bad = {**row, "extra": json.dumps({"process_on_transformed": ["not", "a", "map"]})}
    with pytest.raises(ValueError, match="must map a view key to a thought"):
        list(tokenizer_corpus([bad]))


def test_the_tokenizer_corpus_is_written_in_the_wording_the_stages_ask_in():
    from viss_r1.modeling.corpus import tokenizer_corpus
    from viss_r1.prompts import THINK_THEN_ANSWER, PromptWording, build_prompt
    from viss_r1.release_prompts import SFT_SSL_SYSTEM_PROMPT

    row = {"problem": "Which one of the shapes moves?", "problem_type": "multiple choice", "options": ["A. left", "B. right"],
           "process": "<think>It rises.</think>", "solution": "<answer>A</answer>", "data_type": "video",
           "transform_media": "video", "transform_name": "arrow", "transform_param": 1, "transform_letter": "B",
           "pretext_question": "Is the clip reversed?", "num_frames": 16}
    compact = list(tokenizer_corpus([row], wording=PromptWording("compact")))
    assert build_prompt("transform_answer", row, PromptWording("compact")) in compact
    assert not any(THINK_THEN_ANSWER in text for text in compact)
    ours = list(tokenizer_corpus([row]))
    assert len(ours) == len(compact) and sum(map(len, ours)) > sum(map(len, compact)) + 500
    release = list(tokenizer_corpus([row], wording=PromptWording("release")))
    for stage in ("sft", "grpo", "eval"):   # the release words a prompt differently in each script
        assert build_prompt("transform_answer", row, PromptWording("release", stage)) in release
    assert SFT_SSL_SYSTEM_PROMPT in release
