"""The conditions a benchmark is scored under (METHOD.md §8, robustness probes).

- ``clean``: the benchmark as it is, R1 prompt.
- ``blind``: the same question with the same media shape but nothing to see: every frame (or the
  image) replaced by one uniform frame of the same size in the clip's background colour, with the
  clip's own timestamps.
  The prompt, its vision tokens and their mRoPE positions are exactly the clean condition's, so
  clean − blind (the model's visual reliance) measures what the pixels tell the model, not how
  its answers break on an input shape it never saw.
- ``no_video``: the same question with the media removed from the prompt altogether (no vision
  tokens). A second probe: a model whose answers stop parsing without the video scores low here
  whether or not it uses what it sees, which the format compliance beside each score shows.
- ``transformed``: the video transformed by one drawn pretext transform (rotate, arrow, shuffle),
  asked in the ViSS-R1 format: the answer is scored as usual and the ``<transform>`` letter as
  pretext accuracy.
- ``frame_drop_<r>``: a fraction ``r`` of the frames dropped at random; the kept frames keep
  their true timestamps, so the model sees a sparser video, not a faster one.

Every condition asks about the same samples (one ``sample_id`` per benchmark record), so
conditions compare sample by sample. ``every_option`` gives the ``transformed`` condition in its
balanced form (each clip under every option of its transform), how a learning check asks held-out
clips (``benchmarks/learning_check.py``) through this same path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from viss_r1.data.frame_cache import FrameCacheReader
from viss_r1.data.loader import clip_metadata, load_clip
from viss_r1.data.pretext_samples import PretextSettings, PretextUse, build_use_table
from viss_r1.data.requests import row_request
from viss_r1.evaluate.config import EvalSettings, ProbeSettings
from viss_r1.pretext.questions import pretext_question
from viss_r1.pretext.transforms import TRANSFORMS, TransformSpec, transform_params
from viss_r1.prompts import OURS, PromptWording, build_prompt, chat_messages
from viss_r1.video.media import MediaInput, uniform_frames

MIN_KEPT_FRAMES = 2   # one temporal patch of Qwen2.5-VL


@dataclass(frozen=True)
class Condition:
    name: str
    kind: str                 # clean | blind | no_video | transformed | frame_drop
    drop_ratio: float = 0.0


TRANSFORMED = Condition("transformed", "transformed")


def conditions(probes: ProbeSettings) -> list[Condition]:
    found = [Condition("clean", "clean")]
    if probes.blind:
        found.append(Condition("blind", "blind"))
    if probes.no_video:
        found.append(Condition("no_video", "no_video"))
    if probes.transforms:
        found.append(TRANSFORMED)
    found += [Condition(f"frame_drop_{ratio:.2f}", "frame_drop", ratio) for ratio in probes.frame_drop]
    return found


def sample_id(record: Mapping[str, Any]) -> str:
    return f"{record['source']}/{record['record_index']}"


def task_of(record: Mapping[str, Any], task_fields: Sequence[str]) -> str | None:
    """The record's per-task label: the first of ``task_fields`` it has (top level or among the
    extra fields the loader kept)."""
    extra = json.loads(record.get("extra") or "{}")
    for name in task_fields:
        value = record.get(name) if record.get(name) not in (None, "") else extra.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def identity_fields(record: Mapping[str, Any], transform: str) -> dict[str, Any]:
    """The transform fields of an unchanged clip asked in the ViSS-R1 format: ``transform``'s
    identity option (arrow: not reversed; rotate: 0°; images have no arrow, so rotate)."""
    media = record["data_type"]
    name = transform if transform in TRANSFORMS[media] else "rotate"
    spec = TransformSpec.of(media, name, transform_params(media, name)[0])
    return {"transform_media": media, "transform_name": spec.name, "transform_param": spec.param,
            "transform_letter": spec.letter,
            "pretext_question": pretext_question(media, spec.name, record.get("num_frames"))}


def condition_rows(condition: Condition, records: Sequence[Mapping[str, Any]], settings: EvalSettings,
                   ) -> list[dict[str, Any]]:
    """The rows asked under ``condition``: the records themselves (with an identity transform's
    question under the ViSS-R1 format), or for ``transformed`` each video record with its drawn
    transform and pretext question (images are not transformed)."""
    probes, seed = settings.probes, settings.seed
    if condition.kind != "transformed":
        identity = settings.prompt_format == "transform_answer"
        return [{**record, **(identity_fields(record, settings.identity_transform) if identity else {}),
                 "sample_id": sample_id(record)} for record in records]
    usable = [r for r in records if r["data_type"] == "video" and r.get("reason") is None]
    use = PretextUse("eval_transformed", ("video",), video_transforms=tuple(probes.transforms), splits=("eval",))
    drawn, refused = build_use_table([{**r, "split": "eval"} for r in usable], use, PretextSettings(seed=seed))
    by_index = {(row["source"], row["record_index"]): row for row in drawn}
    by_index |= {(row["source"], row["record_index"]): {"transform_error": row["reason"]} for row in refused}
    return [{**record, **by_index.get((record["source"], record["record_index"]), {}), "sample_id": sample_id(record)}
            for record in records if record["data_type"] == "video"]


def every_option(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each transformed row once per option of its transform (forward and reversed, every angle,
    …), so the probe is balanced and a model that ignores the pixels scores exactly chance."""
    out = []
    for row in rows:
        for param in transform_params(row["transform_media"], row["transform_name"]):
            spec = TransformSpec.of(row["transform_media"], row["transform_name"], param)
            out.append({**row, "transform_param": spec.param, "transform_letter": spec.letter})
    return out


def chance(media: str, transform: str) -> float:
    """The pretext accuracy of a guess: one over the transform's number of options."""
    return 1.0 / len(transform_params(media, transform))


def drop_frames(frames: np.ndarray, timing: Mapping[str, Any], ratio: float, rng: np.random.Generator
                ) -> tuple[np.ndarray, dict[str, Any]]:
    """Keep an even number (≥ 2) of randomly chosen frames, in order, with their own indices."""
    total = len(frames)
    keep = max(MIN_KEPT_FRAMES, int(round(total * (1.0 - ratio))) // 2 * 2)
    keep = min(keep, total - total % 2)
    kept = np.sort(rng.choice(total, size=keep, replace=False))
    indices = [timing["frames_indices"][i] for i in kept]
    return np.ascontiguousarray(frames[kept]), {**timing, "frames_indices": indices}


def asked_format(condition: Condition, prompt_format: str) -> str:
    """The prompt format ``condition`` asks in (so its answers are checked against it):
    ``transformed`` always ViSS-R1's, the others the evaluation's."""
    return "transform_answer" if condition.kind == "transformed" else prompt_format


def _rng(seed: int, condition: str, sample: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{condition}/{sample}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def request(condition: Condition, row: Mapping[str, Any], frames: FrameCacheReader, system_prompt: str,
            seed: int, prompt_format: str = "r1", wording: PromptWording = OURS) -> tuple[list[dict], MediaInput]:
    """The chat messages and the media one row is asked with under ``condition``."""
    media = row["data_type"]
    if condition.kind == "transformed":
        return row_request(row, frames, asked_format(condition, prompt_format), system_prompt, transform=True,
                           wording=wording)
    prompt = build_prompt(prompt_format, row, wording)
    if condition.kind == "no_video":
        return chat_messages(prompt, None, system_prompt), MediaInput(None)
    clip, timing = load_clip(row["fingerprint"], frames)
    if condition.kind == "blind":
        clip = uniform_frames(clip)   # same shape and timestamps: the clean prompt's tokens, no pixels
    if condition.kind == "frame_drop" and media == "video":
        clip, timing = drop_frames(clip, timing, condition.drop_ratio, _rng(seed, condition.name, row["sample_id"]))
    metadata = clip_metadata(timing, clip) if media == "video" else {}
    return chat_messages(prompt, media, system_prompt), MediaInput(media, clip, metadata)
