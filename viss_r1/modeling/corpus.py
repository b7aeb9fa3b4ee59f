"""The text the tiny tokenizer is trained on: every prompt, target and answer the pipeline will
show the model, in all three prompt formats, plus the chat-template scaffolding."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT, PROMPT_FORMATS, build_prompt, sft_target

TEMPLATE_WORDS = "system\nuser\nassistant\nYou are a helpful assistant."


def tokenizer_corpus(rows: Iterable[Mapping[str, Any]], system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> Iterator[str]:
    yield TEMPLATE_WORDS
    yield system_prompt
    for row in rows:
        for fmt in PROMPT_FORMATS:
            yield build_prompt(fmt, row)
        if (row.get("process") or "").strip():
            yield sft_target(row["process"], row["solution"], row.get("transform_letter"))
        else:
            yield row["solution"]
