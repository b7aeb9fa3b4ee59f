"""Reading a model's output: the ``<answer>`` and ``<transform>`` spans, and the numbers in them.

The training rewards (``viss_r1.rewards``) and evaluation's scores (``viss_r1.evaluate.metrics``)
both read outputs through this module, so training and evaluation read the same span and the
same number ("1,000" → 1000; "nan"/"inf" unparsable)."""

from __future__ import annotations

import math
import re

# The release's own patterns: the first tag pair, non-greedy, across lines, whitespace trimmed.
ANSWER_PATTERN = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
TRANSFORM_PATTERN = re.compile(r"<transform>\s*(.*?)\s*</transform>", re.DOTALL)


def extract_answer(text: str | None) -> str:
    """Content of the first ``<answer>…</answer>``, stripped; "" when there is none. Used for both
    completions and ground-truth ``solution`` strings ("<answer>B</answer>")."""
    match = ANSWER_PATTERN.search(text or "")
    return match.group(1).strip() if match else ""


def extract_transform(text: str | None) -> str:
    """Content of the first ``<transform>…</transform>``, stripped; "" when there is none."""
    match = TRANSFORM_PATTERN.search(text or "")
    return match.group(1).strip() if match else ""


def parse_number(text: str) -> float | None:
    """The release's parse (drop thousands commas, then float); None when it fails. Non-finite
    values count as unparsable: in the release "nan" earned full regression credit."""
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None
