import pytest

from viss_r1.evaluate.chains import option_named_first, thought_of

PLACES = ["A. left", "B. middle", "C. right"]


def test_the_option_the_thought_names_first_is_its_commitment():
    text = ("<think>I see three shapes. The one on the right, a red ball, rises; the one on the left stays. "
            "So it is on the right, option A.</think><answer>A</answer>")
    assert option_named_first(thought_of(text), PLACES) == "C"   # what the chain read, not the letter it wrote


def test_only_whole_words_inside_the_thought_count():
    assert option_named_first("The upright clip is bright.", PLACES) == ""
    assert thought_of("<answer>left</answer>") == ""        # no thought, no commitment
    assert option_named_first("It moves UP, then Left.", ["A. left", "B. up"]) == "B"


def test_a_malformed_option_is_refused():
    with pytest.raises(ValueError, match="not of the form"):
        option_named_first("left", ["left", "right"])
