"""Writes the embedded default dataset: synthetic clips + Video-R1 JSON annotations."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from viss_r1.pretext.narration import VIEWS_FIELD
from viss_r1.synthetic.scenes import SCENES, Clip, Layout

# Video-R1 record keys (METHOD.md §7), in the order they are written.
RECORD_KEYS = (
    "problem_id",
    "problem",
    "data_type",
    "problem_type",
    "options",
    "process",
    "solution",
    "path",
    "data_source",
)
# Index = rng stream, so the splits never share a clip. The validation split is drawn like train
# and never trained on: settings are tuned on it, so the eval split stays untouched by choices.
SPLITS = ("train", "eval", "validation")


class SyntheticConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    # 1,280: 320 clips of each multiple-choice scene, 160 of the others (train_scenes below); the tiny
    # model memorises 40 a scene instead of reading them.
    num_train: int = 1280
    # 120: 20 clips a scene, 40 of them multiple choice. At 60 (10 a scene, 20 multiple choice) one
    # model read 1.26× chance on eval against 2.54× on validation's 40 (README, "Only the closing
    # tags whole"): too few clips to tell 1.3× from 2×.
    num_eval: int = 120
    num_validation: int = 0   # for tuning runs (benchmarks/learning_check.py --split validation)
    num_frames: int = 32  # frames per clip
    fps: int = 8  # clip frame rate (32 frames = 4 s)
    width: int = 112  # small on purpose: the pipeline downsamples to ~56–112 px anyway
    height: int = 112
    # The scenes every split cycles through (viss_r1.synthetic.scenes.SCENES), each equally often.
    # event_order (which object lands first or last) is offered, not in the default: no tiny model read
    # it; moving_place (which one moves, by where it is) took its place (README, "What the tiny model
    # learns").
    scenes: tuple[str, ...] = ("motion_direction", "moving_place", "counting", "distance", "ocr", "description")
    # The train split's own cycle, when it should differ (a scene listed twice is trained on twice as
    # often); empty: ``scenes``. The held-out splits keep ``scenes``, so scores stay balanced. The
    # default trains the two multiple-choice scenes twice as often: the tiny model reads a scene only
    # after some 2,400 samples of it (benchmarks/grounding_check.py). Every scene comes once before any
    # comes twice, so a small train split still holds every scene.
    train_scenes: tuple[str, ...] = (
        "motion_direction", "moving_place", "counting", "distance", "ocr", "description", "motion_direction", "moving_place",
    )

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"SyntheticConfig.seed={self.seed!r}: need a non-negative int")
        for name in ("num_train", "num_eval"):
            if getattr(self, name) < 1:
                raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)}: need ≥ 1 clip")
        if self.num_validation < 0:
            raise ValueError(f"SyntheticConfig.num_validation={self.num_validation}: need ≥ 0 clips")
        if self.num_frames < 8:
            raise ValueError(
                f"SyntheticConfig.num_frames={self.num_frames}: need ≥ 8 "
                "(the shuffle pretext cuts the clip into 4 segments of ≥ 2 frames)"
            )
        unknown = [name for name in self.scenes if name not in SCENES]
        if unknown or not self.scenes:
            raise ValueError(f"SyntheticConfig.scenes={list(self.scenes)}: need one or more of {list(SCENES)}")
        unknown = [name for name in self.train_scenes if name not in SCENES]
        if unknown:
            raise ValueError(f"SyntheticConfig.train_scenes={list(self.train_scenes)}: {unknown} unknown; "
                             f"choose from {list(SCENES)}")
        unasked = sorted(set(self.train_scenes) - set(self.scenes))
        if unasked:
            raise ValueError(f"SyntheticConfig.train_scenes={list(self.train_scenes)}: {unasked} not in "
                             f"scenes={list(self.scenes)}, so never evaluated; with your own scenes set "
                             "train_scenes too (empty: train on the scenes evenly)")
        if self.fps < 1:
            raise ValueError(f"SyntheticConfig.fps={self.fps}: need ≥ 1")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not 32 <= value <= 256 or value % 2:
                raise ValueError(
                    f"SyntheticConfig.{name}={value}: need an even size in 32..256 "
                    "(H.264 yuv420p needs even sides)"
                )
        return self


@dataclass(frozen=True)
class SyntheticDataset:
    media_root: Path  # folder that the records' relative paths resolve against
    train_annotations: Path  # Video-R1 JSON list
    eval_annotations: Path
    validation_annotations: Path


def generate_synthetic_dataset(out_dir: Path, config: SyntheticConfig = SyntheticConfig()) -> SyntheticDataset:
    """Render ``config.num_train + config.num_eval + config.num_validation`` clips under
    ``out_dir/videos`` and write ``train.json`` / ``eval.json`` / ``validation.json``. Same config →
    identical annotations and decoded frames."""
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    layout = Layout(config.num_frames, config.width, config.height, config.fps)
    annotations = {}
    next_id = 0
    counts = (config.num_train, config.num_eval, config.num_validation)
    for stream, (split, count) in enumerate(zip(SPLITS, counts)):
        records = []
        cycle = config.train_scenes if split == "train" and config.train_scenes else config.scenes
        for index, scene in enumerate(_scene_order(config.seed, stream, count, cycle)):
            rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(stream, index)))
            clip = SCENES[scene](rng, layout)
            relative = f"videos/{split}_{index:05d}_{scene}.mp4"
            write_video(out_dir / relative, clip.frames, config.fps)
            records.append(_record(next_id, clip, f"./{relative}"))
            next_id += 1
        annotations[split] = out_dir / f"{split}.json"
        _write_json(annotations[split], records)
    return SyntheticDataset(out_dir, annotations["train"], annotations["eval"], annotations["validation"])


def _scene_order(seed: int, stream: int, count: int, scenes: tuple[str, ...]) -> list[str]:
    """Scenes cycle evenly through the split, in a seeded order."""
    names = list(scenes)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, 1 << 30)))
    return [names[i] for i in rng.permutation(np.arange(count) % len(names))]


def _record(problem_id: int, clip: Clip, path: str) -> dict:
    record = {
        "problem_id": problem_id,
        "problem": clip.problem,
        "data_type": "video",
        "problem_type": clip.problem_type,
        "options": list(clip.options),
        "process": f"<think>{clip.reasoning}</think>",
        "solution": f"<answer>{clip.answer}</answer>",
        "path": path,
        "data_source": f"synthetic/{clip.scene}",
    }
    if clip.views:   # beyond the Video-R1 schema: kept in the record's ``extra``
        record[VIEWS_FIELD] = clip.views
    return record


def _write_json(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode ``[T, H, W, 3]`` uint8 RGB frames as H.264/yuv420p MP4.

    Deterministic bytes: x264's output depends on its thread count, so it gets one thread; and its
    macroblock-tree rate control gave different bytes (and decoded pixels) for the same frames
    within one process (measured with x264 core 165), so it is switched off. Written to a
    temporary name and renamed, so a crash never leaves a truncated clip under the final name.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    _, height, width, _ = frames.shape
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.options = {"crf": "18", "preset": "fast", "x264-params": "mbtree=0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    os.replace(tmp, path)
