"""A pretext-sample row as the model is asked it: the chat messages and the clip from the frame
cache, transformed by the row's spec unless asked not to.

The one place a table row becomes a request, so SFT, GRPO, the transform probe and the annotator
ask alike; the modeling layer takes the result (messages + ``MediaInput``) and never reads a table.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.data.loader import load_pretext_clip
from viss_r1.prompts import DEFAULT_SYSTEM_PROMPT, OURS, PromptWording, build_prompt, chat_messages
from viss_r1.video.media import MediaInput


def row_request(row: Mapping[str, Any], frames: FrameCacheReader, prompt_format: str,
                system_prompt: str = DEFAULT_SYSTEM_PROMPT, transform: bool = True,
                wording: PromptWording = OURS) -> tuple[list[dict], MediaInput]:
    """A pretext-sample row as the model is asked it: the chat messages (system + user) and the
    clip from the frame cache, transformed by the row's spec unless ``transform`` is off."""
    clip = load_pretext_clip(row, frames, transform=transform)
    messages = chat_messages(build_prompt(prompt_format, row, wording), row["data_type"], system_prompt)
    return messages, MediaInput(row["data_type"], clip.frames, clip.video_metadata)


def row_requests(rows: Sequence[Mapping[str, Any]], frames: FrameCacheReader, prompt_format: str = "transform_answer",
                 system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 wording: PromptWording = OURS) -> tuple[list[list[dict]], list[MediaInput]]:
    """The rows' conversations and their transformed clips, in row order: the two arguments
    ``viss_r1.modeling.generation.generate_completions`` takes."""
    requests = [row_request(row, frames, prompt_format, system_prompt, wording=wording) for row in rows]
    return [messages for messages, _ in requests], [media for _, media in requests]
