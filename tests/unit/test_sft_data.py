"""The SFT collator trains the assistant turn only, masks every vision token, batches videos."""

import torch
from transformers import AutoProcessor

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.modeling.tiny import VISION_TOKENS
from viss_r1.modeling.video_inputs import VIDEO_FIELDS
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT, sft_target
from viss_r1.train.sft_data import IGNORE_INDEX, VideoSFTCollator


def collate(tiny_sft, prompt_format, rows):
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    collator = VideoSFTCollator(processor, FrameCacheReader(tiny_sft.shard_files), prompt_format,
                                DEFAULT_SYSTEM_PROMPT, transform_media=prompt_format == "viss_r1")
    return processor, collator(rows)


def test_labels_cover_exactly_the_assistant_target(tiny_sft):
    rows = tiny_sft.rows[:3]
    processor, batch = collate(tiny_sft, "viss_r1", rows)
    assert set(VIDEO_FIELDS) <= set(batch) and batch["input_ids"].shape[0] == 3
    for row, labels in zip(rows, batch["labels"]):
        trained = labels[labels != IGNORE_INDEX]
        target = sft_target(row["process"], row["solution"], row["transform_letter"])
        assert processor.tokenizer.decode(trained) == target + "<|im_end|>"
        assert f"<transform>{row['transform_letter']}</transform>" in target


def test_vision_and_padding_tokens_are_never_trained(tiny_sft):
    processor, batch = collate(tiny_sft, "viss_r1", tiny_sft.rows[:4])
    vision = torch.tensor(processor.tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)))
    is_vision = torch.isin(batch["input_ids"], vision)
    assert is_vision.sum() > 0 and (batch["labels"][is_vision] == IGNORE_INDEX).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert batch["attention_mask"][:, 0].all()   # right padding for training


def test_plain_cot_format_has_no_transform_tag(tiny_sft):
    row = tiny_sft.rows[0]
    processor, batch = collate(tiny_sft, "r1", [row])
    trained = batch["labels"][0][batch["labels"][0] != IGNORE_INDEX]
    assert processor.tokenizer.decode(trained) == sft_target(row["process"], row["solution"], None) + "<|im_end|>"
