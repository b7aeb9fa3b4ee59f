"""Pretext-sample tables: one row per (record, use) with the transform drawn for it.

Three tables, named by what they hold (METHOD.md §1, §6): ``cot`` (records with a chain of
thought: the SFT stages), ``questions`` (every question, video and image: Pretext-GRPO and the
Video-R1 baseline's GRPO) and ``video_questions`` (video questions only: ViSS-R1's RL). Which stage
trains on which table is said in ``viss_r1.stages``. Rows store the transform spec (name,
parameter, letter); frames are transformed on load, deterministically from the spec.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, Iterable

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from viss_r1.pretext.questions import pretext_question
from viss_r1.pretext.transforms import (
    DEFAULT_ARROW_REVERSE_PROB,
    IMAGE_TRANSFORMS,
    OPTION_LETTERS,
    VIDEO_TRANSFORMS,
    TransformSpec,
    draw_transform,
    transform_params,
)

# Names the release's SSL-CoT file may use in ``trans_opt``, mapped to ours.
TRANSFORM_ALIASES = {
    "rotate": "rotate", "rotation": "rotate",
    "arrow": "arrow", "reverse": "arrow", "reversal": "arrow", "arrow_of_time": "arrow",
    "shuffle": "shuffle", "swap": "shuffle",
    "flip": "flip", "puzzle": "puzzle", "jigsaw": "puzzle",
}


COT_TABLE = "cot"
QUESTIONS_TABLE = "questions"
VIDEO_QUESTIONS_TABLE = "video_questions"
TABLES = (COT_TABLE, QUESTIONS_TABLE, VIDEO_QUESTIONS_TABLE)

# Which transforms each use draws from, as (video, image) names. "ours" (the default): every
# transform of the modality. "release": what the authors' code hard-codes per stage (METHOD.md §6, an
# ablation leftover) — the SSL-CoT data was drawn by preprocess_SFT/utils.py over all three of the
# modality; the ViSS-R1 RL trainer (grpo_trainer.py) applies only arrow to videos and puzzle to
# images; the Pretext-GRPO trainer (grpo_trainer_pretext.py) all three to videos, only flip to images.
RELEASE_TRANSFORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    COT_TABLE: (("rotate", "arrow", "shuffle"), ("rotate", "flip", "puzzle")),
    QUESTIONS_TABLE: (("rotate", "arrow", "shuffle"), ("flip",)),
    VIDEO_QUESTIONS_TABLE: (("arrow",), ("puzzle",)),
}
TRANSFORM_PRESETS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "ours": {use: (VIDEO_TRANSFORMS, IMAGE_TRANSFORMS) for use in RELEASE_TRANSFORMS},
    "release": RELEASE_TRANSFORMS,
}


def preset_transforms(preset: str, use: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(video, image) transform names of ``use`` under ``preset`` ("ours" or "release")."""
    if preset not in TRANSFORM_PRESETS:
        raise ValueError(f"transform preset {preset!r}: choose from {', '.join(TRANSFORM_PRESETS)}")
    if use not in TRANSFORM_PRESETS[preset]:
        raise ValueError(f"transform preset {preset!r} has no use {use!r}; its uses: {', '.join(TRANSFORM_PRESETS[preset])}")
    return TRANSFORM_PRESETS[preset][use]


class PretextUse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    data_types: tuple[str, ...]
    video_transforms: tuple[str, ...] = VIDEO_TRANSFORMS
    image_transforms: tuple[str, ...] = IMAGE_TRANSFORMS
    require_process: bool = False   # SFT needs the chain of thought
    sources: tuple[str, ...] = ()   # empty: every annotation source
    splits: tuple[str, ...] = ("train",)  # held-out (eval) records never become training samples
    # Rows per record, each with its own transform (the transforms taken in turn from a random
    # start, so k draws cover every active transform when k is a multiple of their count). The
    # label is free: more draws let a small model see each clip under several transforms instead
    # of memorising one label per question. Records whose SSL-CoT names its transform keep one row.
    draws: int = 1

    def __init__(self, name: str, data_types: tuple[str, ...], **settings: Any) -> None:
        # Positional like the records it configures: PretextUse("cot", ("video", "image"), draws=3).
        super().__init__(name=name, data_types=data_types, **settings)

    def transforms_for(self, media: str) -> tuple[str, ...]:
        return self.video_transforms if media == "video" else self.image_transforms


class PretextSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    arrow_reverse_prob: float = DEFAULT_ARROW_REVERSE_PROB
    uses: tuple[PretextUse, ...] = (
        # Three draws: each clip once under every video transform (the embedded SFT's data).
        PretextUse(COT_TABLE, ("video", "image"), require_process=True, draws=3),
        PretextUse(QUESTIONS_TABLE, ("video", "image")),
        PretextUse(VIDEO_QUESTIONS_TABLE, ("video",)),
    )


# Each table's draws are seeded by the name it first had, so renaming the tables kept every drawn
# transform (and every number measured on them). A new table is seeded by its own name.
DRAW_KEYS = {COT_TABLE: "sft", QUESTIONS_TABLE: "pretext_grpo", VIDEO_QUESTIONS_TABLE: "viss_r1_rl"}


def _sample_seed(seed: int, use: str, source: str, record_index: int) -> list[int]:
    """Independent of row order: the same record draws the same transform in any run."""
    digest = hashlib.sha256(f"{DRAW_KEYS.get(use, use)}/{source}/{record_index}".encode()).digest()
    return [seed, int.from_bytes(digest[:8], "little")]


def _given_transform(record: dict[str, Any], media: str) -> TransformSpec:
    """The transform an SSL-CoT record was annotated with (``trans_opt`` + ``trans_ans``)."""
    name = TRANSFORM_ALIASES.get(str(record["trans_opt"]).strip().lower())
    if name is None:
        raise ValueError(f"trans_opt {record['trans_opt']!r} names no known transform")
    letter = str(record["trans_ans"]).strip().upper()
    if len(letter) != 1 or letter not in OPTION_LETTERS:
        raise ValueError(f"trans_ans {record['trans_ans']!r} is not an option letter")
    params = transform_params(media, name)
    if OPTION_LETTERS.index(letter) >= len(params):
        raise ValueError(f"trans_ans {letter!r} is not an option of {name} ({OPTION_LETTERS[:len(params)]})")
    return TransformSpec.of(media, name, params[OPTION_LETTERS.index(letter)])


def build_use_table(
    records: Iterable[dict[str, Any]], use: PretextUse, settings: PretextSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for one use, plus quarantine rows for records that cannot serve it.

    Each input record carries the Video-R1 fields, ``fingerprint`` and ``num_frames`` of its
    cached clip (records whose media failed earlier never reach here: they are quarantined
    upstream with their reason)."""
    rows, quarantine = [], []
    for record in records:
        if record["split"] not in use.splits or (use.sources and record["source"] not in use.sources):
            continue
        media = record["data_type"]
        if media not in use.data_types or (use.require_process and not record.get("process")):
            continue
        rng = np.random.default_rng(_sample_seed(settings.seed, use.name, record["source"], record["record_index"]))
        try:
            specs = _record_transforms(record, media, use, settings, rng)
            questions = [pretext_question(media, spec.name, record["num_frames"]) for spec in specs]
        except ValueError as error:
            quarantine.append({"use": use.name, "source": record["source"], "record_index": record["record_index"],
                               "problem_id": record["problem_id"], "reason": str(error)})
            continue
        base_id = f"{use.name}/{record['source']}/{record['record_index']}"
        for draw, (spec, question) in enumerate(zip(specs, questions)):
            rows.append({
                "sample_id": base_id if len(specs) == 1 else f"{base_id}/{draw}",
                "use": use.name,
                **{k: record[k] for k in RECORD_COLUMNS},
                "transform_media": spec.media,
                "transform_name": spec.name,
                "transform_param": spec.param,
                "transform_letter": spec.letter,
                "pretext_question": question,
                "seed": settings.seed,
            })
    return rows, quarantine


def _record_transforms(record: dict[str, Any], media: str, use: PretextUse, settings: PretextSettings,
                       rng: np.random.Generator) -> list[TransformSpec]:
    if use.require_process and record.get("trans_opt") and record.get("trans_ans"):
        return [_given_transform(record, media)]
    names = use.transforms_for(media)
    if use.draws < 1:
        raise ValueError(f"use {use.name}: draws={use.draws}, need ≥ 1")
    first = int(rng.integers(len(names)))
    return [draw_transform(media, names[(first + k) % len(names)], rng, settings.arrow_reverse_prob)
            for k in range(use.draws)]


RECORD_COLUMNS = (
    "source", "split", "record_index", "problem_id", "problem", "data_type", "problem_type", "options",
    "process", "solution", "path", "data_source", "extra", "fingerprint", "num_frames",
)


def label_balance(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """transform → letter → count, the figure a reader checks against the design."""
    counts: dict[str, Counter] = {}
    for row in rows:
        key = f"{row['transform_media']}/{row['transform_name']}"
        counts.setdefault(key, Counter())[row["transform_letter"]] += 1
    return {name: dict(sorted(c.items())) for name, c in sorted(counts.items())}


def records_with_clips(records: pl.DataFrame, catalog: pl.DataFrame, clip_index: pl.DataFrame) -> pl.DataFrame:
    """Records joined to their cached clip; ``reason`` says why a record has none."""
    catalog = catalog.select("media_root", "path", "fingerprint", "status", pl.col("reason").alias("catalog_reason"))
    joined = (records.join(catalog, on=["media_root", "path"], how="left")
              .join(clip_index.select("fingerprint", "num_frames"), on="fingerprint", how="left"))
    return joined.with_columns(
        pl.when(pl.col("status") != "ok").then(pl.concat_str(pl.lit("media quarantined: "), pl.col("catalog_reason")))
        .when(pl.col("num_frames").is_null()).then(pl.lit("clip failed to decode into the frame cache"))
        .otherwise(None).alias("reason"))
