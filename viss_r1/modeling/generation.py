"""Batched generation with video: the path evaluation, probes and learning checks share.

Prompts are left-padded (decoder-only generation), every batch carries the full video fields
(``model_inputs``), and the vision placeholder tokens are suppressed so a weak model cannot emit
a ``<|video_pad|>`` that would break the next forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.modeling.video_inputs import MediaInput, forward_kwargs, model_inputs


@dataclass(frozen=True)
class Decoding:
    """Defaults: the release's near-greedy evaluation decoding (METHOD.md §8)."""

    max_new_tokens: int = 1024
    temperature: float = 0.01
    top_p: float = 0.001
    do_sample: bool = True
    batch_size: int = 8
    seed: int = 0


def generate_completions(model, processor, conversations: Sequence[list[dict[str, Any]]],
                         media: Sequence[MediaInput], decoding: Decoding = Decoding()) -> list[dict[str, Any]]:
    """One completion per conversation: ``{"text", "num_tokens"}``, in input order."""
    import torch

    tokenizer = processor.tokenizer
    suppress = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
    sampling = {"do_sample": True, "temperature": decoding.temperature, "top_p": decoding.top_p} \
        if decoding.do_sample else {"do_sample": False}
    torch.manual_seed(decoding.seed)
    model.eval()
    results = []
    for start in range(0, len(conversations), decoding.batch_size):
        chunk = slice(start, start + decoding.batch_size)
        texts = [processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations[chunk]]
        batch = model_inputs(processor, texts, media[chunk], padding_side="left")
        with torch.inference_mode():
            out = model.generate(**forward_kwargs(batch), max_new_tokens=decoding.max_new_tokens,
                                 suppress_tokens=suppress, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **sampling)
        new = out[:, batch["input_ids"].shape[1]:]
        for ids in new:
            ids = ids[ids != tokenizer.pad_token_id]
            results.append({"text": tokenizer.decode(ids, skip_special_tokens=True),
                            "num_tokens": int(len(ids))})
    return results
