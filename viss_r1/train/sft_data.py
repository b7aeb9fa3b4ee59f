"""SSL-CoT SFT data: pretext-sample rows → chat examples → padded video batches with labels.

``loss_on`` says which tokens carry the loss (``viss_r1.train.config.SFTLossOn``): the assistant
turn only (ours), or every token but padding and vision tokens, or — the release's
``sft_video.py`` as it runs on Qwen2.5-VL — every token but padding and ``<|image_pad|>``.

Rows keep (clip fingerprint, transform spec, labels); frames are read from the frame cache and
transformed inside the collator, so nothing heavy passes through ``datasets``/Arrow (which would
turn frames nested in chat messages into ``{path, bytes}`` dicts).

``empty_clip_fraction`` of the rows (chosen by sample id, the same rows every epoch) are shown an
empty clip instead — their clip's shape and timestamps, every frame the background colour — with a
thought that says so and the row's own answer, a guess from the question alone. A model built from
scratch that never saw an uninformative clip stops writing the asked format on one, so the blind
probe would read breakage as visual reliance; an instruction-tuned model has seen such inputs.

``rehearsal_fraction`` of the rows (by sample id, independently of the empty clips) are shown as the
start model was trained: the original clip, Video-R1's prompt and the record's own reasoning. A
model built from scratch forgets what its warm-up read off the clip when a new format takes all of
its next stage; rehearsing the warm-up's rows is the usual remedy, and an instruction-tuned model
has no such warm-up to forget.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

import polars as pl
import torch

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.data.loader import spec_of
from viss_r1.data.requests import row_request
from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.modeling.video_inputs import model_inputs
from viss_r1.pretext.narration import thought_for_row, views_of
from viss_r1.prompts import FORMAT_TAGS, OURS, PromptWording, sft_target
from viss_r1.stages import FORMAT_WARMUP
from viss_r1.train.config import SFT_LOSS_ON
from viss_r1.video.media import MediaInput, uniform_frames

IGNORE_INDEX = -100  # label value the loss skips (transformers convention)

# The chain of thought of an empty-clip row: what a model can truthfully say about it.
EMPTY_CLIP_THOUGHT = ("Every frame is the same plain colour: nothing is shown and nothing moves, "
                      "so the clip cannot tell me the answer. I can only guess.")


# How a rehearsed row is asked: as the shared warm-up asks it.
REHEARSAL_FORMAT = FORMAT_WARMUP.prompt_format


def _drawn(kind: str, sample_id: str, fraction: float) -> bool:
    """Whether the row ``sample_id`` is among a fixed ``fraction`` of the ids, by hash: the same rows
    every epoch and every run, and each ``kind`` drawn independently of the others."""
    if fraction <= 0.0:
        return False
    return int.from_bytes(hashlib.sha256(f"{kind}/{sample_id}".encode()).digest()[:8], "little") / 2**64 < fraction


def shows_empty_clip(sample_id: str, fraction: float) -> bool:
    """Whether the row ``sample_id`` is shown an empty clip."""
    return _drawn("empty_clip", sample_id, fraction)


def is_rehearsed(sample_id: str, fraction: float) -> bool:
    """Whether the row ``sample_id`` is shown as the warm-up shows it (``REHEARSAL_FORMAT``, the
    original clip, the record's reasoning)."""
    return _drawn("rehearsal", sample_id, fraction)


def load_sft_rows(samples: str, max_samples: int | None = None) -> list[dict[str, Any]]:
    rows = pl.read_parquet(samples).sort("sample_id").to_dicts()
    if not rows:
        raise ValueError(f"{samples}: no SFT samples (records need a chain of thought in 'process')")
    return rows[:max_samples] if max_samples else rows


def assistant_turn(row: Mapping[str, Any], prompt_format: str, empty_clip: bool = False) -> dict[str, Any]:
    """The SFT target of METHOD.md §3/§6 as an assistant message; for an empty clip, the thought
    that says there is nothing to see (the transform letter and answer stay the row's: guesses)."""
    letter = row["transform_letter"] if "transform" in FORMAT_TAGS[prompt_format] else None
    thought = EMPTY_CLIP_THOUGHT if empty_clip else row["process"]
    return {"role": "assistant", "content": [{"type": "text", "text": sft_target(thought, row["solution"], letter)}]}


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
                 transform_media: bool, loss_on: str = "assistant", wording: PromptWording = OURS,
                 empty_clip_fraction: float = 0.0, thought_names_transform: bool = False,
                 rehearsal_fraction: float = 0.0, rehearsal_system_prompt: str | None = None):
        if loss_on not in SFT_LOSS_ON:
            raise ValueError(f"loss_on {loss_on!r} unknown; choose one of {list(SFT_LOSS_ON)}")
        if not 0.0 <= empty_clip_fraction < 1.0:
            raise ValueError(f"empty_clip_fraction {empty_clip_fraction}: need 0 ≤ fraction < 1")
        if not 0.0 <= rehearsal_fraction < 1.0:
            raise ValueError(f"rehearsal_fraction {rehearsal_fraction}: need 0 ≤ fraction < 1")
        self.processor, self.frames = processor, frames
        self.prompt_format, self.system_prompt, self.transform_media = prompt_format, system_prompt, transform_media
        self.loss_on, self.wording, self.empty_clip_fraction = loss_on, wording, empty_clip_fraction
        self.thought_names_transform = thought_names_transform and transform_media
        self.rehearsal_fraction = rehearsal_fraction
        self.rehearsal_system_prompt = system_prompt if rehearsal_system_prompt is None else rehearsal_system_prompt

    def request(self, row: Mapping[str, Any]) -> tuple[list[dict[str, Any]], MediaInput]:
        """The row's chat messages and clip: from the frame cache, transformed as the stage asks
        (a benchmark overrides this to hand frames from memory to the same batching)."""
        return row_request(row, self.frames, self.prompt_format, self.system_prompt, self.transform_media, self.wording)

    def rehearsal_request(self, row: Mapping[str, Any]) -> tuple[list[dict[str, Any]], MediaInput]:
        """The row as the warm-up asks it: Video-R1's prompt about the original clip."""
        return row_request(row, self.frames, REHEARSAL_FORMAT, self.rehearsal_system_prompt,
                           FORMAT_WARMUP.transform_media, self.wording)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        texts, media = [], []
        for row in rows:
            rehearsed = is_rehearsed(row["sample_id"], self.rehearsal_fraction)
            messages, clip = self.rehearsal_request(row) if rehearsed else self.request(row)
            empty = shows_empty_clip(row["sample_id"], self.empty_clip_fraction) and clip.frames is not None
            if empty:   # same shape and timestamps, so the same prompt tokens: only the pixels go
                clip = MediaInput(clip.data_type, uniform_frames(clip.frames), clip.video_metadata)
            if self.thought_names_transform and not (empty or rehearsed):
                row = {**row, "process": thought_for_row(row["process"], spec_of(row), views_of(row))}
            messages.append(assistant_turn(row, REHEARSAL_FORMAT if rehearsed else self.prompt_format, empty))
            texts.append(self.processor.apply_chat_template(messages, tokenize=False))
            media.append(clip)
        batch = dict(model_inputs(self.processor, texts, media, padding_side="right"))
        batch["labels"] = sft_labels(batch["input_ids"], batch["attention_mask"], self.processor.tokenizer,
                                     self.loss_on)
        return batch
