"""Numbers in an answer are parsed once, for the rewards and evaluation alike: thousands commas
dropped, anything non-finite unparsable (in the release "nan" earned full regression credit)."""

import pytest

from viss_r1.answers import parse_number


@pytest.mark.parametrize("text, expected", [
    ("12", 12.0), ("1,000", 1000.0), ("1,000.5", 1000.5), ("-0.25", -0.25), (" 3 ", 3.0), ("1e3", 1000.0),
    ("nan", None), ("inf", None), ("-Infinity", None), ("", None), ("12 meters", None), ("B", None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected
