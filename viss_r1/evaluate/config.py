"""Typed run config of an evaluation process (``python -m viss_r1.evaluate.run --config F``).

Written by the benchmark-result assets and by a user scoring a checkpoint by hand, like the
training configs. Decoding defaults are the release's near-greedy evaluation (METHOD.md §8); the
probes are the robustness conditions the release switched off and we make first-class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import VLLMServer
from viss_r1.pretext.transforms import VIDEO_TRANSFORMS
from viss_r1.process import StrictModel
from viss_r1.prompts import PromptWording, PromptWordingName
from viss_r1.train.config import MlflowTarget


class ProbeSettings(StrictModel):
    """Conditions scored besides the clean benchmark (each on the same samples)."""

    # Uniform frames (the clip's background colour) of the clip's own shape and timing (the clean prompt's tokens, nothing to
    # see): visual reliance = clean − blind.
    blind: bool = True
    no_video: bool = True                     # the question with the media removed: clean − no_video, a second probe
    transforms: list[str] = list(VIDEO_TRANSFORMS)  # transformed video, ViSS-R1 prompt: answer + pretext accuracy; [] = off
    frame_drop: list[float] = [0.5]           # a sweep of ratios of frames dropped at random; [] = off

    @field_validator("transforms")
    @classmethod
    def _known_transforms(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(VIDEO_TRANSFORMS))
        if unknown:
            raise ValueError(f"probes.transforms {unknown} unknown; video transforms are {list(VIDEO_TRANSFORMS)}")
        return names

    @field_validator("frame_drop")
    @classmethod
    def _ratios(cls, ratios: list[float]) -> list[float]:
        bad = [r for r in ratios if not 0.0 < r < 1.0]
        if bad:
            raise ValueError(f"probes.frame_drop ratios must lie in (0, 1), got {bad}")
        return ratios


class EvalSettings(StrictModel):
    """How a model is asked a benchmark: decoding, probes, how many samples."""

    # The prompt of the clean, blind, no-video and frame-drop conditions: "r1" (the benchmark's question,
    # as Video-R1 evaluates) or "transform_answer" (for a model trained only on ViSS-R1 prompts: the same
    # question after the transform question of ``identity_transform``, whose true answer is then
    # its identity option — arrow "not reversed", rotate 0° — since the video is shown unchanged).
    # None: the format the model under evaluation was trained with.
    prompt_format: Literal["r1", "transform_answer"] | None = None
    identity_transform: Literal["arrow", "rotate"] = "arrow"
    decoding: Decoding = Field(default_factory=Decoding)
    vllm_server: VLLMServer = Field(default_factory=VLLMServer)   # url set: generate there, not in process
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    system_prompt: str | None = None          # None: viss_r1.prompts.DEFAULT_SYSTEM_PROMPT
    # "release": the authors' eval_bench_parallel.py / eval_bench_ssl_parallel.py strings, to score
    # a released checkpoint on the prompts it was evaluated with (viss_r1.release_prompts)
    prompt_wording: PromptWordingName = "ours"
    max_samples: int | None = None            # the first N records (a quick look); None: all
    seed: int = 0                             # transform draws and dropped frames
    # The run fails when a condition's failed samples (generation errors) exceed this fraction of
    # those it could ask (missing videos aside) — after its parts are written, so a rerun asks
    # only the failed ones again. Per condition, not overall: each condition is its own score,
    # and a probe failing on a fifth of its clips must not hide behind clean conditions that did
    # not. 0: any failure fails the run; 1: never.
    max_failed_fraction: float = Field(default=0.05, ge=0.0, le=1.0)

    @property
    def wording(self) -> PromptWording:
        return PromptWording(self.prompt_wording, "eval")


class EvalRunConfig(StrictModel):
    """One (model, benchmark) evaluation. Per-sample results are written to ``output_dir`` as
    they are produced, so an interrupted run resumes without redoing finished samples."""

    model: str                                # local folder or hub id; trust_remote_code stays off
    model_revision: str | None = None         # a hub id's commit sha or tag (the cache key pins it)
    benchmark: str                            # a name of viss_r1.evaluate.benchmarks.BENCHMARKS
    records: str                              # Parquet table of the benchmark's records (with clip columns)
    frame_shards: list[Path]
    output_dir: str
    settings: EvalSettings = Field(default_factory=EvalSettings)
    mlflow: MlflowTarget | None = None        # the asset's run: the machine's system metrics go there
