"""Typed run config of the data-plane assets. Defaults are the embedded default; every default
is read from the library's own config objects, so each value has one source of truth."""

from __future__ import annotations

from typing import Literal

import dagster as dg

from viss_r1.data.frame_cache import FrameEncoding
from viss_r1.data.pretext_samples import PretextSettings
from viss_r1.embedded import EMBEDDED_SAMPLING
from viss_r1.synthetic import SyntheticConfig
from viss_r1.video.sampling import FrameSampling

_SYNTHETIC = SyntheticConfig()
_ENCODING = FrameEncoding()
_PRETEXT = PretextSettings()
_USES = {use.name: use for use in _PRETEXT.uses}


class AnnotationSource(dg.Config):
    """A Video-R1-schema JSON file and the folder its relative paths resolve against."""

    name: str
    annotations: str
    media_root: str
    split: Literal["train", "eval"] = "train"  # eval records never reach a training table


class SyntheticSet(dg.Config):
    seed: int = _SYNTHETIC.seed
    num_train: int = _SYNTHETIC.num_train
    num_eval: int = _SYNTHETIC.num_eval
    num_frames: int = _SYNTHETIC.num_frames
    fps: int = _SYNTHETIC.fps
    width: int = _SYNTHETIC.width
    height: int = _SYNTHETIC.height

    def to_library(self) -> SyntheticConfig:
        return SyntheticConfig(**self.model_dump())


class VideoSourcesConfig(dg.Config):
    sources: list[AnnotationSource] = []  # empty: the synthetic set (sources "train" and "eval")
    synthetic: SyntheticSet = SyntheticSet()


class VideoCatalogConfig(dg.Config):
    min_frames: int = EMBEDDED_SAMPLING.min_frames  # fewer decodable frames → quarantine ("too short")
    workers: int = 0                                 # probe processes; 0 = one per CPU core


class Sampling(dg.Config):
    fps: float = EMBEDDED_SAMPLING.fps
    min_frames: int = EMBEDDED_SAMPLING.min_frames
    max_frames: int = EMBEDDED_SAMPLING.max_frames
    min_pixels: int = EMBEDDED_SAMPLING.min_pixels
    max_pixels: int = EMBEDDED_SAMPLING.max_pixels

    def to_library(self) -> FrameSampling:
        return FrameSampling(**self.model_dump())


class FrameCacheConfig(dg.Config):
    sampling: Sampling = Sampling()
    encoding: str = _ENCODING.format
    jpeg_quality: int = _ENCODING.quality
    num_shards: int = 16   # stable hash buckets of fingerprints; each shard is cached on its own
    workers: int = 0       # decode processes; 0 = one per CPU core

    def to_encoding(self) -> FrameEncoding:
        return FrameEncoding(format=self.encoding, quality=self.jpeg_quality)


class PretextUseConfig(dg.Config):
    video_transforms: list[str]
    image_transforms: list[str]
    sources: list[str] = []   # annotation sources to draw from; empty = all


def _use_default(name: str) -> PretextUseConfig:
    use = _USES[name]
    return PretextUseConfig(video_transforms=list(use.video_transforms), image_transforms=list(use.image_transforms),
                            sources=list(use.sources))


class PretextSamplesConfig(dg.Config):
    seed: int = _PRETEXT.seed
    arrow_reverse_prob: float = _PRETEXT.arrow_reverse_prob
    sft: PretextUseConfig = _use_default("sft")
    pretext_grpo: PretextUseConfig = _use_default("pretext_grpo")
    viss_r1_rl: PretextUseConfig = _use_default("viss_r1_rl")

    def to_library(self) -> PretextSettings:
        from dataclasses import replace

        uses = tuple(
            replace(use, video_transforms=tuple(getattr(self, use.name).video_transforms),
                    image_transforms=tuple(getattr(self, use.name).image_transforms),
                    sources=tuple(getattr(self, use.name).sources))
            for use in _PRETEXT.uses
        )
        return PretextSettings(seed=self.seed, arrow_reverse_prob=self.arrow_reverse_prob, uses=uses)
