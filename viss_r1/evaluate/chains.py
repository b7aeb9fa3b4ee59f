"""What a chain of thought committed to: the multiple-choice option its ``<think>`` span names first.

A learning check compares it with the truth (does the reasoning read the clip?) and with the letter
in ``<answer>`` (does the answer follow the reasoning, or come from somewhere else?). Nothing in
training or scoring reads it, so editing it retrains and rescores nothing.
"""

from __future__ import annotations

import re
from typing import Sequence

THINK_PATTERN = re.compile(r"<think>(.*?)</think>", re.DOTALL)
OPTION_PATTERN = re.compile(r"^\s*([A-Z])\.\s*(.+?)\s*$")


def thought_of(text: str | None) -> str:
    """The ``<think>`` span of an output or a record's ``process``; "" when it has none."""
    match = THINK_PATTERN.search(text or "")
    return match.group(1) if match else ""


def option_named_first(thought: str, options: Sequence[str]) -> str:
    """The letter of the option ("A. left"-style strings) whose text ``thought`` names first —
    whole words, any case; an option's text inside a longer word ("upright") does not count — or
    "" when it names none."""
    first, letter = len(thought) + 1, ""
    for option in options:
        parsed = OPTION_PATTERN.match(option)
        if not parsed:
            raise ValueError(f"option {option!r} is not of the form 'A. text'")
        found = re.search(rf"(?<!\w){re.escape(parsed.group(2))}(?!\w)", thought, re.IGNORECASE)
        if found and found.start() < first:
            first, letter = found.start(), parsed.group(1)
    return letter
