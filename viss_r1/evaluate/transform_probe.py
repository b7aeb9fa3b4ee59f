"""The transform probe: held-out clips, transformed, asked in the ViSS-R1 format.

Scores whether the model names the transformation (``<transform>``), answers the user question
(``<answer>``, by the sample's own problem type) and keeps the three-tag format. This is how a
reader checks that a model learned to look: on the arrow task chance is 50 %, and a text-only
shortcut cannot beat it because forward and reversed clips share every word of the prompt.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.data.requests import row_requests
from viss_r1.modeling.generation import Decoding, generate_completions
from viss_r1.pretext.transforms import TransformSpec, transform_params
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT
from viss_r1.answers import extract_answer, extract_transform
from viss_r1.rewards import accuracy, format_score


def every_option(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row once per option of its transform (forward and reversed, every angle, …), so the
    probe is balanced and a model that ignores the pixels scores exactly chance."""
    out = []
    for row in rows:
        for param in transform_params(row["transform_media"], row["transform_name"]):
            spec = TransformSpec.of(row["transform_media"], row["transform_name"], param)
            out.append({**row, "transform_param": spec.param, "transform_letter": spec.letter})
    return out


def transform_probe(model, processor, rows: Sequence[Mapping[str, Any]], frames: FrameCacheReader,
                    decoding: Decoding, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> dict[str, Any]:
    """Per-sample results and the summary: transform accuracy per transform (with chance),
    answer accuracy and format compliance."""
    conversations, media = row_requests(rows, frames, "viss_r1", system_prompt)
    completions = generate_completions(model, processor, conversations, media, decoding)
    samples, by_transform, options = [], defaultdict(list), {}
    for row, completion in zip(rows, completions):
        text = completion["text"]
        result = {
            "sample_id": row["sample_id"], "transform": row["transform_name"], "truth": row["transform_letter"],
            "predicted": extract_transform(text), "completion": text, "num_tokens": completion["num_tokens"],
            "answer_accuracy": accuracy(extract_answer(text), extract_answer(row["solution"]), row["problem_type"]),
            "format": format_score(text, with_transform=True),
        }
        result["transform_correct"] = result["predicted"] == result["truth"]
        samples.append(result)
        by_transform[row["transform_name"]].append(result["transform_correct"])
        options[row["transform_name"]] = len(transform_params(row["transform_media"], row["transform_name"]))
    summary = {
        "samples": len(samples),
        "format_compliance": float(np.mean([s["format"] for s in samples])) if samples else 0.0,
        "answer_accuracy": float(np.mean([s["answer_accuracy"] for s in samples])) if samples else 0.0,
        "transform_accuracy": {name: float(np.mean(v)) for name, v in sorted(by_transform.items())},
        "chance": {name: 1.0 / options[name] for name in sorted(by_transform)},
    }
    return {"summary": summary, "samples": samples}
