"""SSL-CoT rows whose transform was drawn here: the thought starts with the transform, the rest reads
as the clip undone, and only the transform's own parameter changes the sentence."""

import pytest

from viss_r1.pretext.narration import thought_on_transformed_clip, transform_sentence
from viss_r1.pretext.transforms import TRANSFORMS, TransformSpec, transform_params

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
