"""What a chain of thought committed to: the multiple-choice option its reasoning names first.

A learning check compares it with the truth (does the reasoning read the clip?) and with the letter
in ``<answer>`` (does the answer follow the reasoning, or come from somewhere else?). Nothing in
training or scoring reads it, so editing it retrains and rescores nothing.
"""

from __future__ import annotations

import re
from typing import Sequence

THINK_PATTERN = re.compile(r"<think>(.*?)</think>", re.DOTALL)
OPTION_PATTERN = re.compile(r"^\s*([A-Z])\.\s*(.+?)\s*$")


def option_named_first(text: str | None, options: Sequence[str]) -> str:
    """The letter of the option ("A. left"-style strings) whose text the ``<think>`` span names
    first — whole words, any case; an option's text inside a longer word ("upright") does not
    count — or "" when it names none."""
    match = THINK_PATTERN.search(text or "")
    thought = match.group(1) if match else ""
    first, letter = len(thought) + 1, ""
    for option in options:
        parsed = OPTION_PATTERN.match(option)
        if not parsed:
            raise ValueError(f"option {option!r} is not of the form 'A. text'")
        found = re.search(rf"(?<!\w){re.escape(parsed.group(2))}(?!\w)", thought, re.IGNORECASE)
        if found and found.start() < first:
            first, letter = found.start(), parsed.group(1)
    return letter
