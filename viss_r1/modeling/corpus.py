"""The text the tiny tokenizer is trained on: every prompt, target and answer the pipeline will
show the model, in all three prompt formats, plus the chat-template scaffolding; for a row with a
transform, also the thought an SFT row on its transformed clip is trained on (the record's reasoning
for that view, or the transform's sentence before its reasoning: viss_r1.pretext.narration)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from viss_r1.pretext.narration import thought_for_row, views_of
from viss_r1.pretext.transforms import TransformSpec
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
            if row.get("transform_name"):
                spec = TransformSpec.of(row["transform_media"], row["transform_name"], int(row["transform_param"]))
                yield thought_for_row(row["process"], spec, views_of(row))
        else:
            yield row["solution"]
