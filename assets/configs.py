"""Typed run config of the data-plane assets. Defaults are the embedded default; every default
is read from the library's own config objects, so each value has one source of truth."""

from __future__ import annotations

import dataclasses
import typing
from typing import Literal, Optional

import dagster as dg
import pydantic

from viss_r1.data.ingest import DECODE_TIMEOUT_S
from viss_r1.data.pretext_samples import PretextSettings, preset_transforms
from viss_r1.embedded import EMBEDDED_EVAL_DECODING, EMBEDDED_GRPO, EMBEDDED_ROLLOUTS, EMBEDDED_SAMPLING, EMBEDDED_SFT
from viss_r1.evaluate.config import EvalSettings, ProbeSettings
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.vllm_server import VLLMServer
from viss_r1.modeling.tiny import TinyModelSpec
from viss_r1.prompts import PromptWordingName
from viss_r1.rewards import RewardSettings
from viss_r1.synthetic import SyntheticConfig
from viss_r1.train.config import CotAnnotationRunConfig, GRPOSettings, OptimSettings, SFTLossOn
from viss_r1.video.encoding import FrameEncoding
from viss_r1.video.sampling import FrameSampling

_ENCODING = FrameEncoding()
_PRETEXT = PretextSettings()
_USES = {use.name: use for use in _PRETEXT.uses}


def _mirror(library_config: type, defaults: object | None, name: str, doc: str, exclude: tuple[str, ...] = (),
            nested: dict[str, type] | None = None) -> type:
    """A ``dg.Config`` with the fields of a library config (a pydantic model or a dataclass;
    Dagster only accepts its own Config classes in run config), defaults taken from ``defaults``
    (None: the library's own): one definition per field. ``exclude``: fields that are not run
    settings (paths the asset fills in, model geometry); the library's defaults apply to them.
    ``nested``: fields whose value is itself a library dataclass, with the mirror to use for it."""
    if dataclasses.is_dataclass(library_config):
        hints = typing.get_type_hints(library_config)
        declared = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(library_config)}
    else:
        declared = {f: (info.annotation, info.default) for f, info in library_config.model_fields.items()}
    fields = {
        field: (annotation, getattr(defaults, field) if defaults is not None else default)
        for field, (annotation, default) in declared.items() if field not in exclude
    }
    for field, mirror in (nested or {}).items():
        value = getattr(defaults if defaults is not None else library_config(), field)
        fields[field] = (mirror, mirror(**dataclasses.asdict(value)))
    config = pydantic.create_model(name, __base__=dg.Config, __doc__=doc, **fields)
    config.to_library = lambda self, **filled: library_config(**self.model_dump(), **filled)
    return config


class AnnotationSource(dg.Config):
    """A Video-R1-schema JSON file and the folder its relative paths resolve against."""

    name: str
    annotations: str
    media_root: str
    split: Literal["train", "eval"] = "train"  # eval records never reach a training table


SyntheticSet = _mirror(SyntheticConfig, None, "SyntheticSet",
                       "The synthetic video QA set (viss_r1.synthetic.SyntheticConfig).")


class VideoSourcesConfig(dg.Config):
    sources: list[AnnotationSource] = []  # empty: the synthetic set (sources "train" and "eval")
    synthetic: SyntheticSet = SyntheticSet()


class VideoCatalogConfig(dg.Config):
    min_frames: int = EMBEDDED_SAMPLING.min_frames  # fewer decodable frames → quarantine ("too short")
    workers: int = 0                                 # probe processes; 0 = one per CPU this process may use
    decode_timeout_s: float = DECODE_TIMEOUT_S       # one file's probe; past it: killed, file quarantined


# The patch geometry (frame_factor, size_factor) is the model's, not a run setting.
Sampling = _mirror(FrameSampling, EMBEDDED_SAMPLING, "Sampling",
                   "Frame sampling, qwen-vl-utils convention (viss_r1.video.sampling.FrameSampling).",
                   exclude=("frame_factor", "size_factor"))


class FrameCacheConfig(dg.Config):
    sampling: Sampling = Sampling()
    encoding: str = _ENCODING.format
    jpeg_quality: int = _ENCODING.quality
    num_shards: int = 16   # stable hash buckets of fingerprints; each shard is cached on its own
    workers: int = 0       # decode processes; 0 = one per CPU this process may use
    decode_timeout_s: float = DECODE_TIMEOUT_S   # one clip's decode; past it: killed, clip a failure row

    def to_encoding(self) -> FrameEncoding:
        return FrameEncoding(format=self.encoding, quality=self.jpeg_quality)


def min_frames_mismatch(probe_min: int, sampling, probe_setting: str, sampling_prefix: str) -> str:
    """Why a probe threshold below what the sampling needs is refused ("" when it is not): a
    clip the catalog passes with fewer frames than sampling needs would fail later, deep in the
    frame cache, instead of being quarantined as too short. ``sampling``: the ``Sampling`` run
    config; in num_frames mode it needs only one temporal patch (a shorter clip gives all its
    frames, as the release evaluates it), so its min_frames does not apply."""
    library = sampling.to_library()
    need = library.fewest_frames
    if probe_min >= need:
        return ""
    if library.num_frames is None:
        return (f"{probe_setting} {probe_min} is below {sampling_prefix}.min_frames {need}: clips with "
                f"{probe_min}..{need - 1} frames would pass probing and then fail frame sampling. "
                f"Raise {probe_setting} to at least {need} or lower {sampling_prefix}.min_frames to {probe_min}.")
    return (f"{probe_setting} {probe_min} is below {need}, the frame factor {sampling_prefix}.num_frames "
            f"{library.num_frames} needs at least: clips with {probe_min}..{need - 1} frames would pass probing "
            f"and then fail frame sampling. Raise {probe_setting} to at least {need}.")


def check_data_plane_min_frames(run_config: dict) -> None:
    """Refuse a run whose video_catalog min_frames is below what frame_cache's sampling needs.
    The two live in different assets' configs, so the whole run config is read (defaults where
    a value is not given); both assets call this before any work."""
    ops = run_config.get("ops", {})
    catalog = VideoCatalogConfig(**ops.get("video_catalog", {}).get("config", {}))
    cache = FrameCacheConfig(**ops.get("frame_cache", {}).get("config", {}))
    problem = min_frames_mismatch(catalog.min_frames, cache.sampling,
                                  "video_catalog.config.min_frames", "frame_cache.config.sampling")
    if problem:
        raise dg.Failure(f"run config refused: {problem}")


class PretextUseConfig(dg.Config):
    video_transforms: Optional[list[str]] = None   # None: the preset's (PretextSamplesConfig.preset)
    image_transforms: Optional[list[str]] = None
    sources: list[str] = []   # annotation sources to draw from; empty = all
    draws: int = 1            # rows per record, each with its own transform (SSL-CoT records keep theirs)


def _use_default(name: str) -> PretextUseConfig:
    use = _USES[name]
    return PretextUseConfig(sources=list(use.sources), draws=use.draws)


class PretextSamplesConfig(dg.Config):
    # Active transforms of each use where its lists are not given: "ours" (every transform of the
    # modality) or "release" (as the authors' trainers hard-code them: RELEASE_TRANSFORMS).
    preset: Literal["ours", "release"] = "ours"
    seed: int = _PRETEXT.seed
    arrow_reverse_prob: float = _PRETEXT.arrow_reverse_prob
    sft: PretextUseConfig = _use_default("sft")
    pretext_grpo: PretextUseConfig = _use_default("pretext_grpo")
    viss_r1_rl: PretextUseConfig = _use_default("viss_r1_rl")

    def to_library(self) -> PretextSettings:
        from dataclasses import replace

        def resolved(use):
            given = getattr(self, use.name)
            video, image = preset_transforms(self.preset, use.name)
            return replace(use, video_transforms=video if given.video_transforms is None else tuple(given.video_transforms),
                           image_transforms=image if given.image_transforms is None else tuple(given.image_transforms),
                           sources=tuple(given.sources), draws=given.draws)

        uses = tuple(resolved(use) for use in _PRETEXT.uses)
        return PretextSettings(seed=self.seed, arrow_reverse_prob=self.arrow_reverse_prob, uses=uses)


# The processor's pixel bounds stay the spec's: frames arrive already sized by the frame cache.
TinyModelConfig = _mirror(TinyModelSpec, None, "TinyModelConfig",
                          "Sizes of the offline tiny model (viss_r1.modeling.tiny.TinyModelSpec).",
                          exclude=("min_pixels", "max_pixels"))


class BaseModelConfig(dg.Config):
    model: str = "tiny"   # "tiny" (built offline), a local checkpoint folder, or a hub id
    revision: Optional[str] = None   # a hub id's commit sha or tag: required for a hub id (the cache key pins it)
    tiny: TinyModelConfig = TinyModelConfig()


OptimConfig = _mirror(OptimSettings, EMBEDDED_SFT, "OptimConfig",
                      "Trainer settings (viss_r1.train.config.OptimSettings); defaults: the embedded tiny run.")


class SFTModelConfig(dg.Config):
    system_prompt: Optional[str] = None                   # None: the one default system prompt
    prompt_wording: PromptWordingName = "ours"            # "release": the authors' exact strings
    max_samples: Optional[int] = None
    loss_on: SFTLossOn = "assistant"                      # the tokens with loss (viss_r1.train.config.SFTLossOn)
    training: OptimConfig = OptimConfig()


GRPOOptimConfig = _mirror(OptimSettings, EMBEDDED_GRPO, "GRPOOptimConfig",
                          "Trainer settings of a GRPO stage (viss_r1.train.config.OptimSettings); "
                          "defaults: the embedded tiny run.")
VLLMServerConfig = _mirror(VLLMServer, None, "VLLMServerConfig",
                           "A vLLM server to generate on (viss_r1.modeling.vllm_server.VLLMServer); url '': in process.")
RolloutConfig = _mirror(GRPOSettings, EMBEDDED_ROLLOUTS, "RolloutConfig",
                        "Rollouts and policy loss (viss_r1.train.config.GRPOSettings); defaults: the release's "
                        "(G 8, temperature 1.0, top_p 0.95, β 0.04, loss per sequence), completions capped for CPU.",
                        nested={"vllm_server": VLLMServerConfig})


class _Overrides(dg.Config):
    def overrides(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def _overrides_of(library_config: type, name: str, doc: str) -> type:
    """A ``dg.Config`` with every field of a library dataclass as an optional override (None keeps
    the value the library picks, e.g. per stage); tuples become lists, as YAML gives them. Derived,
    so a new library setting is a run setting at once (``temporal`` once went missing here)."""
    hints = typing.get_type_hints(library_config)
    fields = {}
    for field in dataclasses.fields(library_config):
        hint = hints[field.name]
        if typing.get_origin(hint) is tuple:
            hint = list[typing.get_args(hint)[0]]
        fields[field.name] = (Optional[hint], None)
    return pydantic.create_model(name, __base__=_Overrides, __doc__=doc, **fields)


RewardConfig = _overrides_of(RewardSettings, "RewardConfig",
                             "Overrides of the stage's reward (viss_r1.rewards.RewardSettings); None keeps the "
                             "stage's value. E.g. {temporal: true} (T-GRPO), {use_accuracy: false} (ViSS-R1 ablation).")


class GRPOModelConfig(dg.Config):
    system_prompt: Optional[str] = None
    prompt_wording: PromptWordingName = "ours"            # "release": the authors' exact strings
    max_samples: Optional[int] = None
    rewards: RewardConfig = RewardConfig()
    training: GRPOOptimConfig = GRPOOptimConfig()
    rollouts: RolloutConfig = RolloutConfig()


CotAnnotationsConfig = _mirror(
    CotAnnotationRunConfig, None, "CotAnnotationsConfig",
    "SSL-CoT re-annotation (viss_r1.annotate): the annotator checkpoint and its decoding.",
    exclude=("samples", "frame_shards", "output_dir"))


class BenchmarkConfig(FrameCacheConfig):
    """A benchmark's Video-R1-eval JSON and media root (the release's eval files load as they
    are), and how its videos are sampled into the frame cache. No file: the benchmark is not
    evaluated (the synthetic one then takes video_sources' eval split)."""

    annotations: str = ""
    media_root: str = ""
    # Fewer decodable frames → counted as missing. In num_frames mode a shorter video is evaluated
    # on all its frames, as the release does: set this to the frame factor (2), not num_frames.
    min_frames: int = EMBEDDED_SAMPLING.min_frames

    @pydantic.model_validator(mode="after")
    def _probe_keeps_what_sampling_needs(self) -> "BenchmarkConfig":
        problem = min_frames_mismatch(self.min_frames, self.sampling, "min_frames", "sampling")
        if problem:
            raise ValueError(problem)
        return self


DecodingConfig = _mirror(Decoding, EMBEDDED_EVAL_DECODING, "DecodingConfig",
                         "Evaluation decoding (viss_r1.modeling.generation.Decoding): the release's near-greedy "
                         "sampling; answers capped for the tiny model.")
ProbesConfig = _mirror(ProbeSettings, None, "ProbesConfig",
                       "Robustness probes (viss_r1.evaluate.config.ProbeSettings): blind, transformed, frame drop.")


class EvaluationConfig(dg.Config):
    decoding: DecodingConfig = DecodingConfig()
    vllm_server: VLLMServerConfig = VLLMServerConfig()
    probes: ProbesConfig = ProbesConfig()
    prompt_format: Optional[str] = None   # "r1" | "viss_r1"; None: the format the model was trained with
    identity_transform: Literal["arrow", "rotate"] = "arrow"   # its question under viss_r1 on unchanged video
    system_prompt: Optional[str] = None
    prompt_wording: PromptWordingName = "ours"   # "release": the prompts the authors evaluated with
    max_samples: Optional[int] = None   # the first N records (a quick look); None: all
    seed: int = 0                       # transform draws and dropped frames
    # A condition failing on more of its askable samples fails the run; a rerun asks only those.
    max_failed_fraction: float = EvalSettings.model_fields["max_failed_fraction"].default

    def to_library(self) -> EvalSettings:
        return EvalSettings(decoding=self.decoding.to_library(), vllm_server=self.vllm_server.to_library(),
                            probes=self.probes.to_library(),
                            prompt_format=self.prompt_format, identity_transform=self.identity_transform,
                            system_prompt=self.system_prompt, prompt_wording=self.prompt_wording,
                            max_samples=self.max_samples, seed=self.seed,
                            max_failed_fraction=self.max_failed_fraction)


class CheckpointConfig(dg.Config):
    model: str   # a local checkpoint folder or a hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct)
    revision: Optional[str] = None   # a hub id's commit sha or tag: required for a hub id
