"""The SFT collator trains the assistant turn only (by default), masks every vision token,
batches videos; ``loss_on`` gives the release's masking: exactly which positions carry loss."""

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
                                DEFAULT_SYSTEM_PROMPT, transform_media=prompt_format == "transform_answer")
    return processor, collator(rows)


def test_labels_cover_exactly_the_assistant_target(tiny_sft):
    rows = tiny_sft.rows[:3]
    processor, batch = collate(tiny_sft, "transform_answer", rows)
    assert set(VIDEO_FIELDS) <= set(batch) and batch["input_ids"].shape[0] == 3
    for row, labels in zip(rows, batch["labels"]):
        trained = labels[labels != IGNORE_INDEX]
        target = sft_target(row["process"], row["solution"], row["transform_letter"])
        assert processor.tokenizer.decode(trained) == target + "<|im_end|>"
        assert f"<transform>{row['transform_letter']}</transform>" in target


def test_vision_and_padding_tokens_are_never_trained(tiny_sft):
    processor, batch = collate(tiny_sft, "transform_answer", tiny_sft.rows[:4])
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


# Two chat texts as the collator builds them (vision placeholders collapsed to a few tokens).
VIDEO_CHAT = ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<|vision_start|><|video_pad|><|video_pad|>"
              "<|vision_end|>How many?<|im_end|>\n<|im_start|>assistant\n<answer>2</answer><|im_end|>\n")
IMAGE_CHAT = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"


def trained_text(tokenizer, loss_on):
    from viss_r1.train.sft_data import sft_labels

    batch = tokenizer([VIDEO_CHAT, IMAGE_CHAT], padding=True, padding_side="right", return_tensors="pt")
    labels = sft_labels(batch["input_ids"], batch["attention_mask"], tokenizer, loss_on)
    carried = labels != IGNORE_INDEX
    assert (labels[carried] == batch["input_ids"][carried]).all()
    assert (batch["attention_mask"] == 0).any() and not carried[batch["attention_mask"] == 0].any()
    return [tokenizer.decode(ids[mask], skip_special_tokens=False) for ids, mask in zip(batch["input_ids"], carried)]


def test_loss_on_the_assistant_turn_only(tiny_sft):
    tokenizer = AutoProcessor.from_pretrained(tiny_sft.model_dir).tokenizer
    assert trained_text(tokenizer, "assistant") == ["<answer>2</answer><|im_end|>", "A<|im_end|>"]


def test_loss_on_every_token_but_padding_and_vision(tiny_sft):
    tokenizer = AutoProcessor.from_pretrained(tiny_sft.model_dir).tokenizer
    assert trained_text(tokenizer, "all_but_padding_and_vision") == [
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHow many?<|im_end|>\n"
        "<|im_start|>assistant\n<answer>2</answer><|im_end|>\n",
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"]


def test_loss_as_the_release_masks_it_on_qwen2_5_vl(tiny_sft):
    """sft_video.py masks the pad token and processor.image_token only: video placeholders and
    vision start/end carry loss."""
    tokenizer = AutoProcessor.from_pretrained(tiny_sft.model_dir).tokenizer
    assert trained_text(tokenizer, "all_but_padding_and_image_pad") == [
        VIDEO_CHAT, "<|im_start|>user\n<|vision_start|><|vision_end|>Q<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"]


def test_the_collator_trains_the_prompt_when_asked(tiny_sft):
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    frames = FrameCacheReader(tiny_sft.shard_files)
    video_pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    rows = tiny_sft.rows[:2]
    for loss_on, video_trained in (("all_but_padding_and_vision", False), ("all_but_padding_and_image_pad", True)):
        collator = VideoSFTCollator(processor, frames, "transform_answer", DEFAULT_SYSTEM_PROMPT, True, loss_on)
        batch = collator(rows)
        carried = batch["labels"] != IGNORE_INDEX
        is_video = batch["input_ids"] == video_pad
        assert is_video.sum() > 0 and bool(carried[is_video].all()) is video_trained
        assert (carried == ((batch["attention_mask"] == 1) & (video_trained | ~torch.isin(
            batch["input_ids"], torch.tensor(processor.tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))))))).all()
        assert DEFAULT_SYSTEM_PROMPT in processor.tokenizer.decode(batch["input_ids"][0][carried[0]])


def unpatchify(processor, flat: torch.Tensor, grid_thw) -> torch.Tensor:
    """The inverse of the Qwen2.5-VL video processor's patching: ``(frames, 3, H, W)`` pixels in
    [0, 1] from one video's rows of ``pixel_values_videos``."""
    video = processor.video_processor
    patch, temporal, merge = video.patch_size, video.temporal_patch_size, video.merge_size
    t, h, w = grid_thw
    x = flat.reshape(t, h // merge, w // merge, merge, merge, 3, temporal, patch, patch)
    x = x.permute(0, 6, 5, 1, 3, 7, 2, 4, 8).reshape(t * temporal, 3, h * patch, w * patch)
    mean, std = torch.tensor(video.image_mean), torch.tensor(video.image_std)
    return x * std[None, :, None, None] + mean[None, :, None, None]


def test_each_row_is_shown_its_own_clip_in_row_order(tiny_sft):
    """A mis-paired batch would teach the pretext (its transform is visible on any clip) but never
    the questions: every row's pixels must be its own cached clip, transformed when the stage says."""
    from viss_r1.data.loader import load_pretext_clip

    rows = tiny_sft.rows[:4]
    reader = FrameCacheReader(tiny_sft.shard_files)
    for prompt_format, transformed in (("r1", False), ("transform_answer", True)):
        processor, batch = collate(tiny_sft, prompt_format, rows)
        offset, shown = 0, []
        for row, grid in zip(rows, batch["video_grid_thw"].tolist()):
            count = grid[0] * grid[1] * grid[2]
            pixels = unpatchify(processor, batch["pixel_values_videos"][offset:offset + count], grid)
            offset += count
            clip = torch.from_numpy(load_pretext_clip(row, reader, transform=transformed).frames).float() / 255
            assert pixels.shape == clip.shape, (pixels.shape, clip.shape)
            assert torch.allclose(pixels, clip, atol=1e-5), (prompt_format, row["sample_id"])
            shown.append(pixels)
        assert offset == batch["pixel_values_videos"].shape[0]
        assert not torch.allclose(shown[0], shown[1])   # the rows' clips differ, so a swap would show


def test_empty_clip_rows_are_a_fixed_fraction_chosen_by_sample_id():
    from viss_r1.train.sft_data import shows_empty_clip

    ids = [f"cot/synthetic/{i}/{draw}" for i in range(500) for draw in range(6)]
    chosen = [shows_empty_clip(sample, 0.1) for sample in ids]
    assert abs(sum(chosen) / len(ids) - 0.1) < 0.02
    assert chosen == [shows_empty_clip(sample, 0.1) for sample in ids]   # the same rows every epoch
    assert not any(shows_empty_clip(sample, 0.0) for sample in ids)
    # Nested: a larger fraction keeps every row a smaller one chose.
    assert all(shows_empty_clip(sample, 0.3) for sample, empty in zip(ids, chosen) if empty)


def test_an_empty_clip_row_keeps_its_prompt_and_answer_and_says_there_is_nothing_to_see(tiny_sft):
    """The chosen row is shown its clip's shape and timestamps in one uniform colour (the blind
    probe's media), so its prompt tokens are the clean row's; its target thought says the clip is
    empty and its transform letter and answer stay the row's. Other rows are untouched."""
    from viss_r1.data.loader import load_pretext_clip
    from viss_r1.train.sft_data import EMPTY_CLIP_THOUGHT, shows_empty_clip
    from viss_r1.video.media import uniform_frames

    fraction = 0.5
    empty = next(row for row in tiny_sft.rows if shows_empty_clip(row["sample_id"], fraction))
    kept = next(row for row in tiny_sft.rows if not shows_empty_clip(row["sample_id"], fraction))
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    reader = FrameCacheReader(tiny_sft.shard_files)
    plain = VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT, True)([empty, kept])
    batch = VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT, True,
                             empty_clip_fraction=fraction)([empty, kept])
    targets = [sft_target(EMPTY_CLIP_THOUGHT, empty["solution"], empty["transform_letter"]),
               sft_target(kept["process"], kept["solution"], kept["transform_letter"])]
    for labels, target in zip(batch["labels"], targets):
        assert processor.tokenizer.decode(labels[labels != IGNORE_INDEX]) == target + "<|im_end|>"
    def prompt(b):   # the empty row's tokens before its target: system, user turn, vision tokens
        return b["input_ids"][0][:int((b["labels"][0] != IGNORE_INDEX).nonzero()[0])]
    assert torch.equal(prompt(batch), prompt(plain))
    assert torch.equal(batch["video_grid_thw"], plain["video_grid_thw"])
    (t, h, w), _ = batch["video_grid_thw"].tolist()
    count = t * h * w
    shown = unpatchify(processor, batch["pixel_values_videos"][:count], (t, h, w))
    clip = load_pretext_clip(empty, reader, transform=True).frames
    assert torch.allclose(shown, torch.from_numpy(uniform_frames(clip)).float() / 255, atol=1e-5)
    assert torch.equal(batch["pixel_values_videos"][count:], plain["pixel_values_videos"][count:])


def test_an_empty_clip_fraction_of_one_or_more_is_refused(tiny_sft):
    import pytest

    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    with pytest.raises(ValueError, match="empty_clip_fraction"):
        VideoSFTCollator(processor, FrameCacheReader(tiny_sft.shard_files), "r1", DEFAULT_SYSTEM_PROMPT, False,
                         empty_clip_fraction=1.0)


def test_a_transformed_row_thought_names_its_transform_when_asked(tiny_sft):
    """On: a transformed stage's row is trained on its transform's sentence, then the record's own
    reasoning; an empty-clip row keeps the thought that there is nothing to see. A stage on original
    clips (the warm-up, plain CoT) keeps the record's reasoning even with the setting on."""
    from viss_r1.data.loader import spec_of
    from viss_r1.pretext.narration import transform_sentence
    from viss_r1.train.sft_data import EMPTY_CLIP_THOUGHT, shows_empty_clip

    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    reader = FrameCacheReader(tiny_sft.shard_files)
    rows = tiny_sft.rows[:3]
    batch = VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT, True,
                             thought_names_transform=True)(rows)
    for row, labels in zip(rows, batch["labels"]):
        inner = row["process"].removeprefix("<think>").removesuffix("</think>").strip()
        thought = f"{transform_sentence(spec_of(row))} {inner}"
        trained = processor.tokenizer.decode(labels[labels != IGNORE_INDEX])
        assert trained == sft_target(thought, row["solution"], row["transform_letter"]) + "<|im_end|>"
    empty = next(row for row in tiny_sft.rows if shows_empty_clip(row["sample_id"], 0.5))
    batch = VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT, True, empty_clip_fraction=0.5,
                             thought_names_transform=True)([empty])
    trained = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != IGNORE_INDEX])
    assert trained == sft_target(EMPTY_CLIP_THOUGHT, empty["solution"], empty["transform_letter"]) + "<|im_end|>"
    batch = VideoSFTCollator(processor, reader, "r1", DEFAULT_SYSTEM_PROMPT, False, thought_names_transform=True)(rows[:1])
    trained = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] != IGNORE_INDEX])
    assert trained == sft_target(rows[0]["process"], rows[0]["solution"], None) + "<|im_end|>"


def test_a_row_whose_record_has_reasoning_for_its_view_is_trained_on_it(tiny_sft):
    """A record's thought written for the row's transformed view (the synthetic scenes write one for
    rotated and reversed clips) replaces the prefaced reasoning; a view the record has none for
    keeps the transform's sentence before the record's reasoning."""
    import json

    from viss_r1.data.loader import spec_of
    from viss_r1.pretext.narration import VIEWS_FIELD, transform_sentence, view_key

    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    own, other = tiny_sft.rows[:2]
    written = "<think>On screen it moves up. Turned back upright, it moves right.</think>"
    own = {**own, "extra": json.dumps({VIEWS_FIELD: {view_key(spec_of(own)): written}})}
    other = {**other, "extra": json.dumps({VIEWS_FIELD: {"no/such view": written}})}
    batch = VideoSFTCollator(processor, FrameCacheReader(tiny_sft.shard_files), "transform_answer",
                             DEFAULT_SYSTEM_PROMPT, True, thought_names_transform=True)([own, other])
    trained = [processor.tokenizer.decode(labels[labels != IGNORE_INDEX]) for labels in batch["labels"]]
    assert trained[0] == sft_target(written, own["solution"], own["transform_letter"]) + "<|im_end|>"
    inner = other["process"].removeprefix("<think>").removesuffix("</think>").strip()
    prefaced = f"<think>{transform_sentence(spec_of(other))} {inner}</think>"
    assert trained[1] == sft_target(prefaced, other["solution"], other["transform_letter"]) + "<|im_end|>"


def test_a_rehearsed_row_is_shown_exactly_as_the_warm_up_shows_it(tiny_sft):
    """A rehearsed row of the SSL-CoT SFT is the warm-up's row — Video-R1's prompt, the original
    clip, the record's own reasoning, no transform letter — token for token and pixel for pixel;
    a row not drawn stays the SSL-CoT row. Rehearsal and empty clips are drawn independently."""
    from viss_r1.train.sft_data import is_rehearsed, shows_empty_clip

    fraction = 0.5
    rehearsed = next(row for row in tiny_sft.rows if is_rehearsed(row["sample_id"], fraction))
    kept = next(row for row in tiny_sft.rows if not is_rehearsed(row["sample_id"], fraction))
    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    reader = FrameCacheReader(tiny_sft.shard_files)
    rows = [rehearsed, kept]
    batch = VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT, True,
                             thought_names_transform=True, rehearsal_fraction=fraction)(rows)
    warm_up = VideoSFTCollator(processor, reader, "r1", DEFAULT_SYSTEM_PROMPT, False)([rehearsed])
    ssl_cot = VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT, True,
                               thought_names_transform=True)([kept])
    for expected, row in ((warm_up, 0), (ssl_cot, 1)):
        length = int(expected["attention_mask"][0].sum())
        assert torch.equal(batch["input_ids"][row][:length], expected["input_ids"][0][:length])
        assert torch.equal(batch["labels"][row][:length], expected["labels"][0][:length])
    (t, h, w), _ = batch["video_grid_thw"].tolist()
    assert torch.equal(batch["pixel_values_videos"][:t * h * w], warm_up["pixel_values_videos"])
    assert torch.equal(batch["pixel_values_videos"][t * h * w:], ssl_cot["pixel_values_videos"])
    assert not torch.equal(warm_up["pixel_values_videos"],   # the SSL-CoT view of that row is transformed
                           VideoSFTCollator(processor, reader, "transform_answer", DEFAULT_SYSTEM_PROMPT,
                                            True)([rehearsed])["pixel_values_videos"])
    ids = [f"sample-{i}" for i in range(4000)]
    drawn = [is_rehearsed(sample, 0.25) for sample in ids]
    assert abs(sum(drawn) / len(ids) - 0.25) < 0.02 and not any(is_rehearsed(s, 0.0) for s in ids)
    both = sum(d and shows_empty_clip(s, 0.5) for s, d in zip(ids, drawn))
    assert abs(both / sum(drawn) - 0.5) < 0.05   # independent of the empty-clip draw


def test_a_rehearsal_fraction_of_one_or_more_is_refused(tiny_sft):
    import pytest

    processor = AutoProcessor.from_pretrained(tiny_sft.model_dir)
    with pytest.raises(ValueError, match="rehearsal_fraction"):
        VideoSFTCollator(processor, FrameCacheReader(tiny_sft.shard_files), "transform_answer", DEFAULT_SYSTEM_PROMPT,
                         True, rehearsal_fraction=1.0)
