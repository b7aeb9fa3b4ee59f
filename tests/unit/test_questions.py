"""Pretext question text: options and letters agree with transforms.py; shuffle names its segments."""

import pytest

from viss_r1.pretext.questions import FOCUS_PHRASES, pretext_question, transform_options
from viss_r1.pretext.transforms import (
    IMAGE_TRANSFORMS,
    OPTION_LETTERS,
    SWAP_PAIRS,
    VIDEO_TRANSFORMS,
    TransformSpec,
    transform_params,
)

ALL = [("video", n) for n in VIDEO_TRANSFORMS] + [("image", n) for n in IMAGE_TRANSFORMS]


@pytest.mark.parametrize("media,name", ALL)
def test_option_letters_match_the_spec_letters(media, name):
    options = transform_options(media, name)
    params = transform_params(media, name)
    assert len(options) == len(params)
    for option, param in zip(options, params):
        assert option.startswith(f"{TransformSpec.of(media, name, param).letter}. ")
    assert [o[0] for o in options] == list(OPTION_LETTERS[: len(options)])


def test_option_texts():
    assert transform_options("video", "rotate") == ["A. 0 degrees", "B. 90 degrees", "C. 180 degrees", "D. 270 degrees"]
    assert transform_options("video", "arrow") == [
        "A. not reversed (the video plays forward)", "B. reversed (the video plays backward)"]
    assert transform_options("video", "shuffle")[SWAP_PAIRS.index((2, 4))] == "E. segments 2 and 4"
    assert transform_options("image", "puzzle") == [
        "A. pieces 1 and 2", "B. pieces 1 and 3", "C. pieces 1 and 4",
        "D. pieces 2 and 3", "E. pieces 2 and 4", "F. pieces 3 and 4"]
    assert transform_options("image", "flip") == ["A. no flip", "B. flipped left-right", "C. flipped top-bottom"]
    with pytest.raises(ValueError, match="unknown image transform 'arrow'"):
        transform_options("image", "arrow")


@pytest.mark.parametrize("media,name", ALL)
def test_question_structure(media, name):
    question = pretext_question(media, name, num_frames=16 if media == "video" else 1)
    stem, _, options = question.partition("\nOptions:\n")
    assert options.split("\n") == transform_options(media, name)
    assert FOCUS_PHRASES[name] in stem
    assert question.endswith(transform_options(media, name)[-1])


def test_focus_phrases_name_the_cue():
    for name in ("rotate", "flip", "puzzle"):
        assert "spatial" in FOCUS_PHRASES[name]
    assert "temporal order" in FOCUS_PHRASES["arrow"]
    assert "temporal continuity" in FOCUS_PHRASES["shuffle"]


def test_rotate_question_says_counter_clockwise():
    assert "counter-clockwise" in pretext_question("image", "rotate")
    assert "counter-clockwise" in pretext_question("video", "rotate", 32)


def test_shuffle_question_names_the_frames_of_each_segment():
    q16 = pretext_question("video", "shuffle", 16)
    assert ("segment 1 = frames 1-4, segment 2 = frames 5-8, segment 3 = frames 9-12, "
            "segment 4 = frames 13-16") in q16
    q10 = pretext_question("video", "shuffle", 10)
    assert ("segment 1 = frames 1-3, segment 2 = frames 4-6, segment 3 = frames 7-8, "
            "segment 4 = frames 9-10") in q10
    assert "segment 4 = frame 5" in pretext_question("video", "shuffle", 5)


def test_shuffle_question_needs_the_frame_count():
    with pytest.raises(ValueError, match="num_frames"):
        pretext_question("video", "shuffle")
    with pytest.raises(ValueError, match="at least 4 frames"):
        pretext_question("video", "shuffle", 3)


def test_puzzle_question_numbers_the_cells():
    q = pretext_question("image", "puzzle")
    assert "1 (top-left), 2 (top-right), 3 (bottom-left) and 4 (bottom-right)" in q
