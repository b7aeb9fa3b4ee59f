"""Batched generation with video: the path evaluation, probes and learning checks share.

It takes chat conversations and their media (frames + timing, ``MediaInput``), never table rows:
``viss_r1.data.requests`` turns pretext-sample rows and the frame cache into those.

Prompts are left-padded (decoder-only generation), every batch carries the full video fields
(``model_inputs``), and the vision placeholder tokens are suppressed so a weak model cannot emit
a ``<|video_pad|>`` that would break the next forward.

Every sampling parameter is passed explicitly (``generation_config``): ``generate()`` fills each
field left unset from the checkpoint's own ``generation_config.json`` (Qwen instruct checkpoints
set top_k and repetition_penalty there), so an unset field would let the checkpoint, not the run
config, decide how we sample (METHOD.md §9).
"""

from __future__ import annotations

from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict

from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.modeling.video_inputs import forward_kwargs, model_inputs
from viss_r1.video.media import MediaInput


class Decoding(BaseModel):
    """Defaults: the release's near-greedy evaluation decoding (METHOD.md §8): its eval scripts'
    vLLM ``SamplingParams(temperature=0.1, top_p=0.001, max_tokens=1024)``, whose top_k (off) and
    repetition_penalty (1.0) are vLLM's defaults, not the checkpoint's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = 1024
    temperature: float = 0.1
    top_p: float = 0.001
    top_k: int = 0                  # 0: off (vLLM's -1)
    repetition_penalty: float = 1.0  # 1.0: off
    do_sample: bool = True
    batch_size: int = 8
    seed: int = 0


# Fields generate() would otherwise take from the checkpoint when unset, pinned to transformers'
# neutral values: one beam, and no filter, penalty or minimum length that a Decoding does not name.
NEUTRAL_GENERATION: dict[str, Any] = {"num_beams": 1, "min_p": 0.0, "typical_p": 1.0, "epsilon_cutoff": 0.0,
                                      "eta_cutoff": 0.0, "no_repeat_ngram_size": 0, "min_new_tokens": 0}


def generation_config(decoding: Decoding, tokenizer, suppress_tokens: Sequence[int] = ()):
    """The complete ``GenerationConfig`` of one ``Decoding``: every parameter of how tokens are
    chosen explicit, so the checkpoint's ``generation_config.json`` decides none of them."""
    from transformers import GenerationConfig

    sampling = {"do_sample": decoding.do_sample, "temperature": decoding.temperature, "top_p": decoding.top_p,
                "top_k": decoding.top_k} if decoding.do_sample else {"do_sample": False}
    return GenerationConfig(**sampling, **NEUTRAL_GENERATION, max_new_tokens=decoding.max_new_tokens,
                            repetition_penalty=decoding.repetition_penalty, suppress_tokens=list(suppress_tokens),
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)


def generate_completions(model, processor, conversations: Sequence[list[dict[str, Any]]],
                         media: Sequence[MediaInput], decoding: Decoding = Decoding()) -> list[dict[str, Any]]:
    """One completion per conversation: ``{"text", "num_tokens"}``, in input order."""
    import torch

    tokenizer = processor.tokenizer
    config = generation_config(decoding, tokenizer, tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)))
    torch.manual_seed(decoding.seed)
    model.eval()
    results = []
    for start in range(0, len(conversations), decoding.batch_size):
        chunk = slice(start, start + decoding.batch_size)
        texts = [processor.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations[chunk]]
        batch = model_inputs(processor, texts, media[chunk], padding_side="left").to(model.device)
        with torch.inference_mode():
            out = model.generate(**forward_kwargs(batch), generation_config=config)
        new = out[:, batch["input_ids"].shape[1]:]
        for ids in new:
            ids = ids[ids != tokenizer.pad_token_id]
            results.append({"text": tokenizer.decode(ids, skip_special_tokens=True),
                            "num_tokens": int(len(ids))})
    return results


def load_for_generation(model: str, revision: str | None = None):
    """``(model, processor)`` ready to generate: on the GPU in bf16 when there is one, else on
    the CPU in float32; a hub id at ``revision`` (the one the cache key pinned).
    ``trust_remote_code`` stays off."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cuda = torch.cuda.is_available()
    loaded = AutoModelForImageTextToText.from_pretrained(model, revision=revision,
                                                         dtype=torch.bfloat16 if cuda else torch.float32)
    return loaded.to("cuda" if cuda else "cpu"), AutoProcessor.from_pretrained(model, revision=revision)
