"""SSL-CoT SFT data: pretext-sample rows → chat examples → padded video batches with labels.

``loss_on`` says which tokens carry the loss (``viss_r1.train.config.SFTLossOn``): the assistant
turn only (ours), or every token but padding and vision tokens, or — the release's
``sft_video.py`` as it runs on Qwen2.5-VL — every token but padding and ``<|image_pad|>``.

Rows keep (clip fingerprint, transform spec, labels); frames are read from the frame cache and
transformed inside the collator, so nothing heavy passes through ``datasets``/Arrow (which would
turn frames nested in chat messages into ``{path, bytes}`` dicts).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import polars as pl
import torch

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.data.requests import row_request
from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.modeling.video_inputs import model_inputs
from viss_r1.prompts import FORMAT_TAGS, OURS, PromptWording, sft_target
from viss_r1.train.config import SFT_LOSS_ON
from viss_r1.video.media import MediaInput

IGNORE_INDEX = -100  # label value the loss skips (transformers convention)


def load_sft_rows(samples: str, max_samples: int | None = None) -> list[dict[str, Any]]:
    rows = pl.read_parquet(samples).sort("sample_id").to_dicts()
    if not rows:
        raise ValueError(f"{samples}: no SFT samples (records need a chain of thought in 'process')")
    return rows[:max_samples] if max_samples else rows


def assistant_turn(row: Mapping[str, Any], prompt_format: str) -> dict[str, Any]:
    """The SFT target of METHOD.md §3/§6 as an assistant message."""
    letter = row["transform_letter"] if "transform" in FORMAT_TAGS[prompt_format] else None
    return {"role": "assistant", "content": [{"type": "text", "text": sft_target(row["process"], row["solution"], letter)}]}


def assistant_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer) -> torch.Tensor:
    """Labels that train only the assistant turn (its text and closing ``<|im_end|>``).

    The assistant turn is the last ``<|im_start|>`` of each sequence; its role header
    ("assistant\\n") and everything before it, padding and every vision token are ignored."""
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    header = len(tokenizer.encode("assistant\n", add_special_tokens=False))
    vision = torch.tensor(tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)))
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for i, ids in enumerate(input_ids):
        starts = (ids == im_start).nonzero().flatten()
        if len(starts) == 0:
            raise ValueError("an SFT sequence has no <|im_start|>: was the chat template applied?")
        begin = int(starts[-1]) + 1 + header
        ends = ((ids == im_end) & (torch.arange(len(ids)) >= begin)).nonzero().flatten()
        end = int(ends[0]) + 1 if len(ends) else len(ids)
        labels[i, begin:end] = ids[begin:end]
    labels[(attention_mask == 0) | torch.isin(input_ids, vision)] = IGNORE_INDEX
    return labels


def prompt_and_answer_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer,
                             masked_tokens: Sequence[str]) -> torch.Tensor:
    """Labels that train every token — system, user prompt and answer — except padding (by the
    attention mask and by the pad token id, as the release masks it) and ``masked_tokens``."""
    labels = input_ids.clone()
    masked = torch.tensor(tokenizer.convert_tokens_to_ids(list(masked_tokens)))
    labels[(attention_mask == 0) | (input_ids == tokenizer.pad_token_id) | torch.isin(input_ids, masked)] = IGNORE_INDEX
    return labels


def sft_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer, loss_on: str) -> torch.Tensor:
    if loss_on == "assistant":
        return assistant_labels(input_ids, attention_mask, tokenizer)
    if loss_on == "all_but_padding_and_vision":
        return prompt_and_answer_labels(input_ids, attention_mask, tokenizer, VISION_TOKENS)
    if loss_on == "all_but_padding_and_image_pad":
        return prompt_and_answer_labels(input_ids, attention_mask, tokenizer, ["<|image_pad|>"])
    raise ValueError(f"loss_on {loss_on!r} unknown; choose one of {list(SFT_LOSS_ON)}")


class VideoSFTCollator:
    """TRL ``SFTTrainer`` collator for video (TRL's own VLM collator is image-only)."""

    def __init__(self, processor, frames: FrameCacheReader, prompt_format: str, system_prompt: str,
                 transform_media: bool, loss_on: str = "assistant", wording: PromptWording = OURS):
        if loss_on not in SFT_LOSS_ON:
            raise ValueError(f"loss_on {loss_on!r} unknown; choose one of {list(SFT_LOSS_ON)}")
        self.processor, self.frames = processor, frames
        self.prompt_format, self.system_prompt, self.transform_media = prompt_format, system_prompt, transform_media
        self.loss_on, self.wording = loss_on, wording

    def request(self, row: Mapping[str, Any]) -> tuple[list[dict[str, Any]], MediaInput]:
        """The row's chat messages and clip: from the frame cache, transformed as the stage asks
        (a benchmark overrides this to hand frames from memory to the same batching)."""
        return row_request(row, self.frames, self.prompt_format, self.system_prompt, self.transform_media, self.wording)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        texts, media = [], []
        for row in rows:
            messages, clip = self.request(row)
            messages.append(assistant_turn(row, self.prompt_format))
            texts.append(self.processor.apply_chat_template(messages, tokenize=False))
            media.append(clip)
        batch = dict(model_inputs(self.processor, texts, media, padding_side="right"))
        batch["labels"] = sft_labels(batch["input_ids"], batch["attention_mask"], self.processor.tokenizer,
                                     self.loss_on)
        return batch
