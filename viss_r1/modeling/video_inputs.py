"""Frames + timing → Qwen2.5-VL model inputs, the one place every stage builds them.

Generation, the SFT forward, the GRPO log-prob forward and evaluation all call ``model_inputs``
and pass ``forward_kwargs`` of its result to the model, so the three fields peers lose always
arrive (METHOD.md §9):
- ``video_metadata`` (the real source fps and sampled indices): without it the processor assumes
  24 fps and every temporal grid gets the same temporal position — frame order becomes invisible;
- ``second_per_grid_ts``: Video-R1 drops it before its training forward;
- ``mm_token_type_ids``: without it transformers silently skips 3-D mRoPE.
Frames come decoded and sized from the frame cache, so the processor neither resamples nor
resizes them: what the model sees is exactly what the cache holds.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from viss_r1.video.media import MediaInput

# Everything the model's forward needs for text + vision; nothing else is passed.
FORWARD_FIELDS = (
    "input_ids", "attention_mask", "mm_token_type_ids",
    "pixel_values_videos", "video_grid_thw", "second_per_grid_ts",
    "pixel_values", "image_grid_thw",
)
VIDEO_FIELDS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "mm_token_type_ids")


TIMING_FIELDS = ("fps", "total_num_frames", "frames_indices")   # what the model's frame timing needs


def missing_timing(meta: Mapping[str, Any]) -> list[str]:
    return [k for k in TIMING_FIELDS if meta.get(k) is None]


def _video_metadata(meta: Mapping[str, Any], num_frames: int):
    from transformers.video_utils import VideoMetadata

    missing = missing_timing(meta)
    if missing:
        raise ValueError(f"video_metadata lacks {missing}: without real timing the processor assumes "
                         "24 fps and frame order becomes invisible to the model")
    if len(meta["frames_indices"]) != num_frames:
        raise ValueError(f"video_metadata names {len(meta['frames_indices'])} frame indices for {num_frames} frames")
    return VideoMetadata(
        total_num_frames=int(meta["total_num_frames"]), fps=float(meta["fps"]),
        frames_indices=list(meta["frames_indices"]), duration=meta.get("duration"),
        height=meta.get("height"), width=meta.get("width"), video_backend="decord")


def model_inputs(processor, texts: Sequence[str], media: Sequence[MediaInput], padding_side: str = "left"):
    """Tokenised texts (already rendered by the chat template) with their media, batched.

    ``padding_side`` is "left" for generation and either side for a training forward."""
    if len(texts) != len(media):
        raise ValueError(f"{len(texts)} texts but {len(media)} media entries")
    videos, metadata, images = [], [], []
    for item in media:
        if item.data_type == "video":
            videos.append(np.ascontiguousarray(item.frames))
            metadata.append(_video_metadata(item.video_metadata, len(item.frames)))
        elif item.data_type == "image":
            images.append(np.ascontiguousarray(item.frames[0]))
    kwargs: dict[str, Any] = {}
    if videos:
        kwargs.update(videos=videos, video_metadata=metadata,
                      videos_kwargs={"do_sample_frames": False, "do_resize": False, "input_data_format": "channels_first"})
    if images:
        kwargs.update(images=images, images_kwargs={"do_resize": False, "input_data_format": "channels_first"})
    tokenizer = processor.tokenizer
    previous_side, tokenizer.padding_side = tokenizer.padding_side, padding_side
    try:
        return processor(text=list(texts), padding=True, return_tensors="pt", **kwargs)
    finally:
        tokenizer.padding_side = previous_side


def forward_kwargs(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The model-forward arguments of a ``model_inputs`` batch (vision fields only when present)."""
    return {name: batch[name] for name in FORWARD_FIELDS if name in batch and batch[name] is not None}
