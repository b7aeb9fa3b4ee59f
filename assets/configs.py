"""Typed run config of the assets. A run setting with a home in the library *is* that library
setting: ``class Sampling(LibraryConfig, FrameSampling)`` takes the library model's fields, types,
defaults and validators, so a new library field is a run setting at once. Defaults are the
library's (the 7B recipe's) except where ``viss_r1.embedded`` gives the embedded run's."""

from __future__ import annotations

import typing
from typing import Any, ClassVar, Literal, Optional

import dagster as dg
import pydantic
from pydantic.fields import FieldInfo

from viss_r1.data.ingest import DECODE_TIMEOUT_S, NUM_SHARDS
from viss_r1.data.pretext_samples import (
    COT_TABLE,
    QUESTIONS_TABLE,
    VIDEO_QUESTIONS_TABLE,
    PretextSettings,
    preset_transforms,
)
from viss_r1.embedded import (
    EMBEDDED_DECODED_CLIP_MEMORY_MB,
    EMBEDDED_EMPTY_CLIP_FRACTION,
    EMBEDDED_EVAL_DECODING,
    EMBEDDED_EVALUATION,
    EMBEDDED_GRPO,
    EMBEDDED_ROLLOUTS,
    EMBEDDED_SAMPLING,
    EMBEDDED_SFT,
    EMBEDDED_LENGTH_GROUPED_BATCHES, EMBEDDED_LM_HEAD_LOSS, EMBEDDED_REHEARSAL_FRACTION, EMBEDDED_THOUGHT_NAMES_TRANSFORM,
    EMBEDDED_PROMPT_WORDING,
    EMBEDDED_TINY_MODEL,
    EMBEDDED_WARMUP,
)
from viss_r1.evaluate.config import EvalSettings, ProbeSettings
from viss_r1.modeling.generation import Decoding
from viss_r1.modeling.tiny import TinyModelSpec
from viss_r1.modeling.vllm_server import VLLMServer
from viss_r1.prompts import PromptWordingName
from viss_r1.rewards import RewardSettings
from viss_r1.synthetic import SyntheticConfig
from viss_r1.train.config import CotAnnotationRunConfig, GRPOSettings, LmHeadLoss, OptimSettings, SFTLossOn
from viss_r1.video.encoding import FrameEncoding
from viss_r1.video.probe import ALL_CPUS
from viss_r1.video.sampling import FrameSampling

_ENCODING = FrameEncoding()
_PRETEXT = PretextSettings()
_USES = {use.name: use for use in _PRETEXT.uses}


def _library_base(cls: type) -> type[pydantic.BaseModel]:
    """The library model among ``cls``'s bases (the one that is not a Dagster config)."""
    for base in cls.__bases__:
        if issubclass(base, pydantic.BaseModel) and not issubclass(base, dg.Config):
            return base
    raise TypeError(f"{cls.__name__} mirrors no library model: give one as its second base, "
                    f"e.g. class {cls.__name__}(LibraryConfig, FrameSampling)")


class LibraryConfig(dg.Config):
    """A run config that is a library settings model: ``class Sampling(LibraryConfig, FrameSampling)``
    (Dagster accepts only its own ``Config`` classes in run config, hence the first base). Class
    keywords, applied before pydantic builds the schema:

    - ``defaults``: an instance of the library model whose values become the defaults (the
      embedded run's, from ``viss_r1.embedded``); without it the library's own defaults stand.
    - ``fixed``: fields that are not run settings (the model's patch geometry, paths the asset
      fills in): they leave the run config; the library's default stands, or ``to_library`` is
      given them.

    A field whose value is itself a library model is declared again in the class body with its
    mirror as the type (Dagster needs a ``Config`` there); a field the body declares keeps the
    body's default."""

    library: ClassVar[type[pydantic.BaseModel]]

    def __init_subclass__(cls, defaults: pydantic.BaseModel | None = None, fixed: tuple[str, ...] = (),
                          **kwargs: Any) -> None:
        cls.library = _library_base(cls)
        fields = cls.library.model_fields
        unknown = sorted(set(fixed) - set(fields))
        if unknown:
            raise TypeError(f"{cls.__name__}: fixed fields {unknown} are not fields of {cls.library.__name__}")
        if defaults is not None and not isinstance(defaults, cls.library):
            raise TypeError(f"{cls.__name__}: defaults must be a {cls.library.__name__}, got {type(defaults).__name__}")
        declared = dict(cls.__dict__.get("__annotations__", {}))
        for name in fixed:
            # A class variable is no pydantic field: out of the schema, the library's value on reads.
            cls.__annotations__[name] = ClassVar[fields[name].annotation]
            if not fields[name].is_required():
                setattr(cls, name, fields[name].get_default(call_default_factory=True))
        for name, field in fields.items():
            if defaults is None or name in fixed or name in declared:
                continue
            annotation = typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            setattr(cls, name, FieldInfo.from_annotated_attribute(annotation, getattr(defaults, name)))
        super().__init_subclass__(**kwargs)

    def to_library(self, **filled: Any) -> Any:
        """The library model of these settings; ``filled``: its fixed fields the asset supplies."""
        return self.library(**self.model_dump(), **filled)


class LibraryOverrides(dg.Config):
    """Every field of a library model as an optional override, None keeping the value the library
    picks (e.g. per stage): ``class RewardConfig(LibraryOverrides, library=RewardSettings)``.
    Derived, so a new library setting is a run setting at once (``temporal`` once went missing
    when these were listed by hand); tuples become lists, as YAML gives them."""

    library: ClassVar[type[pydantic.BaseModel]]

    def __init_subclass__(cls, library: type[pydantic.BaseModel] | None = None, **kwargs: Any) -> None:
        if library is not None:
            cls.library = library
            for name, field in library.model_fields.items():
                annotation = field.annotation
                if typing.get_origin(annotation) is tuple:
                    annotation = list[typing.get_args(annotation)[0]]
                cls.__annotations__[name] = Optional[annotation]
                setattr(cls, name, None)
        super().__init_subclass__(**kwargs)

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def apply_to(self, settings: pydantic.BaseModel) -> pydantic.BaseModel:
        """``settings`` (a ``library`` model) with these overrides, validated as the library model is."""
        return self.library.model_validate({**settings.model_dump(), **self.overrides()})


class AnnotationSource(dg.Config):
    """A Video-R1-schema JSON file and the folder its relative paths resolve against."""

    name: str
    annotations: str
    media_root: str
    # Only train records reach a training table; validation is for choosing settings, eval for scores.
    split: Literal["train", "eval", "validation"] = "train"


class SyntheticSet(LibraryConfig, SyntheticConfig):
    """The synthetic video QA set (viss_r1.synthetic.SyntheticConfig)."""

    scenes: list[str] = list(SyntheticConfig().scenes)   # Dagster's config takes lists, not tuples
    train_scenes: list[str] = list(SyntheticConfig().train_scenes)


class VideoSourcesConfig(dg.Config):
    sources: list[AnnotationSource] = []  # empty: the synthetic set (sources "train", "eval", "validation")
    synthetic: SyntheticSet = SyntheticSet()


class VideoCatalogConfig(dg.Config):
    min_frames: int = EMBEDDED_SAMPLING.min_frames  # fewer decodable frames → quarantine ("too short")
    workers: int = ALL_CPUS                          # probe processes; 0 = one per CPU this process may use
    decode_timeout_s: float = DECODE_TIMEOUT_S       # one file's probe; past it: killed, file quarantined


class Sampling(LibraryConfig, FrameSampling, defaults=EMBEDDED_SAMPLING, fixed=("frame_factor", "size_factor")):
    """Frame sampling, qwen-vl-utils convention (viss_r1.video.sampling.FrameSampling). The patch
    geometry (frame_factor, size_factor) is the model's, not a run setting."""


class FrameCacheConfig(dg.Config):
    sampling: Sampling = Sampling()
    encoding: str = _ENCODING.format
    jpeg_quality: int = _ENCODING.quality
    num_shards: int = NUM_SHARDS
    workers: int = ALL_CPUS   # decode processes; 0 = one per CPU this process may use
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
    cot: PretextUseConfig = _use_default(COT_TABLE)
    questions: PretextUseConfig = _use_default(QUESTIONS_TABLE)
    video_questions: PretextUseConfig = _use_default(VIDEO_QUESTIONS_TABLE)

    def to_library(self) -> PretextSettings:
        def resolved(use):
            given = getattr(self, use.name)
            video, image = preset_transforms(self.preset, use.name)
            return use.model_copy(update=dict(
                video_transforms=video if given.video_transforms is None else tuple(given.video_transforms),
                image_transforms=image if given.image_transforms is None else tuple(given.image_transforms),
                sources=tuple(given.sources), draws=given.draws))

        uses = tuple(resolved(use) for use in _PRETEXT.uses)
        return PretextSettings(seed=self.seed, arrow_reverse_prob=self.arrow_reverse_prob, uses=uses)


class TinyModelConfig(LibraryConfig, TinyModelSpec, defaults=EMBEDDED_TINY_MODEL, fixed=("min_pixels", "max_pixels")):
    """Sizes of the offline tiny model (viss_r1.modeling.tiny.TinyModelSpec). The processor's pixel
    bounds stay the spec's: frames arrive already sized by the frame cache."""


class BaseModelConfig(dg.Config):
    model: str = "tiny"   # "tiny" (built offline), a local checkpoint folder, or a hub id
    revision: Optional[str] = None   # a hub id's commit sha or tag: required for a hub id (the cache key pins it)
    tiny: TinyModelConfig = TinyModelConfig()
    # The tiny model's tokenizer is trained on the prompts in this wording: the one its stages ask in.
    prompt_wording: PromptWordingName = EMBEDDED_PROMPT_WORDING


class OptimConfig(LibraryConfig, OptimSettings, defaults=EMBEDDED_SFT):
    """Trainer settings (viss_r1.train.config.OptimSettings); defaults: the embedded tiny run."""


class SFTModelConfig(dg.Config):
    system_prompt: Optional[str] = None                   # None: the one default system prompt
    prompt_wording: PromptWordingName = EMBEDDED_PROMPT_WORDING   # "release": the authors' exact strings
    max_samples: Optional[int] = None
    loss_on: SFTLossOn = "assistant"                      # the tokens with loss (viss_r1.train.config.SFTLossOn)
    # Rows shown an empty clip, saying so (viss_r1.train.sft_data); the release: 0.
    empty_clip_fraction: float = EMBEDDED_EMPTY_CLIP_FRACTION
    # Transformed rows' thoughts are about the transformed clip: the record's reasoning for that view, else
    # the transform's sentence first (viss_r1.pretext.narration); the release: off, its SSL-CoT reasoning
    # is written on the transformed clip already.
    thought_names_transform: bool = EMBEDDED_THOUGHT_NAMES_TRANSFORM
    # Rows shown as the shared warm-up shows them, so a stage in another format keeps what the warm-up
    # read (viss_r1.train.sft_data); the release: 0.
    rehearsal_fraction: float = EMBEDDED_REHEARSAL_FRACTION
    # Batches of rows of similar length (viss_r1.train.length_groups); the release: off.
    length_grouped_batches: bool = EMBEDDED_LENGTH_GROUPED_BATCHES
    # The next-token loss from TRL's fused LM head or from the full logits (viss_r1.train.config.LmHeadLoss).
    lm_head_loss: LmHeadLoss = EMBEDDED_LM_HEAD_LOSS
    # Megabytes of decoded clips kept for their next read (viss_r1.train.config.SFTRunConfig); changes
    # no result, so it is not part of the cache key.
    decoded_clip_memory_mb: int = EMBEDDED_DECODED_CLIP_MEMORY_MB
    training: OptimConfig = OptimConfig()


class WarmupOptimConfig(LibraryConfig, OptimSettings, defaults=EMBEDDED_WARMUP):
    """Trainer settings of the shared warm-up (viss_r1.stages.FORMAT_WARMUP); defaults: the
    embedded tiny run's short one."""


class WarmupModelConfig(SFTModelConfig):
    rehearsal_fraction: float = 0.0   # the warm-up is what later stages rehearse
    length_grouped_batches: bool = False
    training: WarmupOptimConfig = WarmupOptimConfig()


class GRPOOptimConfig(LibraryConfig, OptimSettings, defaults=EMBEDDED_GRPO):
    """Trainer settings of a GRPO stage (viss_r1.train.config.OptimSettings); defaults: the
    embedded tiny run."""


class VLLMServerConfig(LibraryConfig, VLLMServer):
    """A vLLM server to generate on (viss_r1.modeling.vllm_server.VLLMServer); url '': in process."""


class RolloutConfig(LibraryConfig, GRPOSettings, defaults=EMBEDDED_ROLLOUTS):
    """Rollouts and policy loss (viss_r1.train.config.GRPOSettings); defaults: the release's (G 8,
    temperature 1.0, top_p 0.95, β 0.04, loss per sequence), completions capped for CPU."""

    vllm_server: VLLMServerConfig = VLLMServerConfig(**EMBEDDED_ROLLOUTS.vllm_server.model_dump())


class RewardConfig(LibraryOverrides, library=RewardSettings):
    """Overrides of the stage's reward (viss_r1.rewards.RewardSettings); None keeps the stage's
    value. E.g. {temporal: true} (T-GRPO), {use_accuracy: false} (ViSS-R1 ablation)."""


class GRPOModelConfig(dg.Config):
    system_prompt: Optional[str] = None
    prompt_wording: PromptWordingName = EMBEDDED_PROMPT_WORDING   # "release": the authors' exact strings
    max_samples: Optional[int] = None
    rewards: RewardConfig = RewardConfig()
    training: GRPOOptimConfig = GRPOOptimConfig()
    rollouts: RolloutConfig = RolloutConfig()


class CotAnnotationsConfig(LibraryConfig, CotAnnotationRunConfig, fixed=("samples", "frame_shards", "output_dir")):
    """SSL-CoT re-annotation (viss_r1.annotate): the annotator checkpoint and its decoding; the
    asset fills in the paths."""


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


class DecodingConfig(LibraryConfig, Decoding, defaults=EMBEDDED_EVAL_DECODING):
    """Evaluation decoding (viss_r1.modeling.generation.Decoding): the release's near-greedy
    sampling; answers capped for the tiny model."""


class ProbesConfig(LibraryConfig, ProbeSettings):
    """Robustness probes (viss_r1.evaluate.config.ProbeSettings): blind, no video, transformed, frame drop."""


class EvaluationConfig(LibraryConfig, EvalSettings, defaults=EMBEDDED_EVALUATION):
    """How a model is asked a benchmark (viss_r1.evaluate.config.EvalSettings)."""

    decoding: DecodingConfig = DecodingConfig()
    vllm_server: VLLMServerConfig = VLLMServerConfig()
    probes: ProbesConfig = ProbesConfig()
    # Dagster config has no optional Literal: a string here, checked by EvalSettings in to_library.
    prompt_format: Optional[str] = None   # "r1" | "transform_answer"; None: the format the model was trained with


class CheckpointConfig(dg.Config):
    model: str   # a local checkpoint folder or a hub id (e.g. Qwen/Qwen2.5-VL-7B-Instruct)
    revision: Optional[str] = None   # a hub id's commit sha or tag: required for a hub id
