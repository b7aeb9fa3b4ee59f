"""The text the tiny tokenizer is trained on: every prompt, target and answer the pipeline will
show the model, in all three prompt formats in the wording the stages will ask in (the release's:
as each of its stages words them), plus the chat-template scaffolding; for a row with a
transform, also the thought an SFT row on its transformed clip is trained on (the record's reasoning
for that view, or the transform's sentence before its reasoning: viss_r1.pretext.narration)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from viss_r1.pretext.narration import thought_for_row, views_of
from viss_r1.pretext.transforms import TransformSpec
from viss_r1.prompts import (DEFAULT_SYSTEM_PROMPT, OURS, PROMPT_FORMATS, PromptWording, build_prompt, sft_target,
                             system_prompt_for)

TRAINED_AND_EVALUATED = ("sft", "grpo", "eval")
TEMPLATE_WORDS = "system\nuser\nassistant\nYou are a helpful assistant."


def tokenizer_corpus(rows: Iterable[Mapping[str, Any]], system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                     wording: PromptWording = OURS) -> Iterator[str]:
    # The release words a prompt differently in each of its training and evaluation scripts.
    stages = TRAINED_AND_EVALUATED if wording.source == "release" else (wording.stage,)
    wordings = [PromptWording(wording.source, stage) for stage in stages]
    yield TEMPLATE_WORDS
    yield system_prompt
    if wording.source == "release":
        yield from sorted({system_prompt_for(fmt, each) for fmt in PROMPT_FORMATS for each in wordings})
    for row in rows:
        for fmt in PROMPT_FORMATS:
            for each in wordings:
                yield build_prompt(fmt, row, each)
        if (row.get("process") or "").strip():
            yield sft_target(row["process"], row["solution"], row.get("transform_letter"))
            if row.get("transform_name"):
                spec = TransformSpec.of(row["transform_media"], row["transform_name"], int(row["transform_param"]))
                yield thought_for_row(row["process"], spec, views_of(row))
        else:
            yield row["solution"]
