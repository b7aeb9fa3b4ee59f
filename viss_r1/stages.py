"""The training stages and the arms they make (METHOD.md §1, §5, §6): the one table of them.

A stage trains one model from another on one pretext-sample table: how its prompts ask (prompt
format), whether its media is transformed, what its reward is made of, whether the KL penalty is
in its loss. An arm is its stages in order, from the base model through the shared warm-up, and
the models its job scores; each arm is a job, and ``FULL_VISS_R1`` is the main job over the
paper's two methods.
The Dagster assets, the jobs, the list of models each job evaluates, the prompt a model is
evaluated in, and each GRPO stage's reward set are generated from here; nothing else spells a
stage's or an arm's name.

A new arm (say, ViSS-R1 without the length bonus) is one ``Arm`` entry whose new stages are
``StageSpec`` values — often a ``model_copy`` of an existing one with a new name and model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from viss_r1.data.pretext_samples import COT_TABLE, QUESTIONS_TABLE, VIDEO_QUESTIONS_TABLE
from viss_r1.prompts import PromptFormat
from viss_r1.rewards import VIDEO_R1_LENGTH_WINDOW, VISS_R1_LENGTH_WINDOW, VISS_R1_TEMPORAL_RATIO, RewardSettings
from viss_r1.vocabulary import MEDIA_TYPES, MediaType

BASE_MODEL = "base_model"   # the asset every arm starts from (the tiny model, or a checkpoint)
CHECKPOINT = "checkpoint"   # the asset the evaluate job scores: any checkpoint, by folder or hub id


class StageSpec(BaseModel):
    """One training stage: what it trains on, how its prompts ask, how it is rewarded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str                                  # the stage, e.g. "viss_r1_grpo"
    model: str                                 # the model asset it produces
    start: str                                 # the model asset it starts from: BASE_MODEL or another stage's
    trainer: Literal["sft", "grpo"]
    samples: str                               # its pretext-sample table (viss_r1.data.pretext_samples)
    data_types: tuple[MediaType, ...] = MEDIA_TYPES   # the media it trains on
    prompt_format: PromptFormat
    transform_media: bool                      # the clip is shown transformed (the pretext task's input)
    # GRPO only: the reward (functions and weights follow from prompt_format and these settings,
    # viss_r1.rewards.stage_rewards), and whether β·KL is in the loss (ViSS-R1 only logs it).
    rewards: RewardSettings | None = None
    kl_in_loss: bool = True
    # A warm-up that only brings a model built here from scratch (the tiny model) to where an
    # instruction-tuned checkpoint already is: started from a checkpoint, it publishes it untrained.
    only_from_scratch: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _grpo_has_rewards(self) -> "StageSpec":
        if (self.trainer == "grpo") != (self.rewards is not None):
            raise ValueError(f"stage {self.name!r}: a GRPO stage needs rewards and an SFT stage has none "
                             f"(trainer {self.trainer!r}, rewards {self.rewards!r})")
        return self

    @property
    def pretext_tag(self) -> str | None:
        """Where the stage's prompt asks for the transform letter (the per-transform accuracy it logs)."""
        return {"transform_answer": "transform", "pretext": "answer"}.get(self.prompt_format)

    @property
    def evaluation_prompt_format(self) -> str:
        """The prompt its model is evaluated in when the run config leaves it open: the one it was
        trained to answer (a model trained on the transform question only ever saw that prompt),
        else Video-R1's."""
        return "transform_answer" if self.prompt_format == "transform_answer" else "r1"


class Arm(BaseModel):
    """One arm of the paper's comparison: its stages in order, and the models its job scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str                                  # also the name of its Dagster job, which trains and scores it
    stages: tuple[StageSpec, ...]
    scored: tuple[str, ...]                    # model assets its job evaluates (the base model and its own)
    description: str

    @model_validator(mode="after")
    def _chained(self) -> "Arm":
        made = {BASE_MODEL}
        for stage in self.stages:
            if stage.start not in made:
                raise ValueError(f"arm {self.name!r}: stage {stage.name!r} starts from {stage.start!r}, which no "
                                 f"earlier stage of the arm makes (made so far: {sorted(made)})")
            made.add(stage.model)
        unknown = [model for model in self.scored if model not in made]
        if unknown:
            raise ValueError(f"arm {self.name!r} scores {unknown}, which it does not make; it makes {sorted(made)}")
        return self


# --- The stages ------------------------------------------------------------------------------

# Every arm of the paper starts from Qwen2.5-VL-7B-Instruct, which already answers in the asked
# format, so its first GRPO step has rewards that vary within groups. The embedded tiny model is
# random: this short SFT on the train split's plain chains of thought (original clips, Video-R1's
# format), the same for every arm, is its instruction tuning. A checkpoint passes through untrained.
FORMAT_WARMUP = StageSpec(
    name="format_warmup", model="instruct_model", start=BASE_MODEL, trainer="sft", samples=COT_TABLE,
    prompt_format="r1", transform_media=False, only_from_scratch=True,
    description="Shared warm-up of a model built from scratch (the analogue of instruction tuning): original clips, "
                "<think><answer>; a checkpoint base passes through untrained.")

SSL_COT_SFT = StageSpec(
    name="ssl_cot_sft", model="sft_model", start=FORMAT_WARMUP.model, trainer="sft", samples=COT_TABLE,
    prompt_format="transform_answer", transform_media=True,
    description="SSL-CoT SFT, ViSS-R1's warm start: transformed clips, <think><transform><answer>.")
VISS_R1_GRPO = StageSpec(
    name="viss_r1_grpo", model="viss_r1_model", start=SSL_COT_SFT.model, trainer="grpo", samples=VIDEO_QUESTIONS_TABLE,
    data_types=("video",), prompt_format="transform_answer", transform_media=True,
    rewards=RewardSettings(length_window=VISS_R1_LENGTH_WINDOW, temporal_ratio=VISS_R1_TEMPORAL_RATIO),
    kl_in_loss=False,
    description="ViSS-R1 RL: transformed video, transform + user question; accuracy + 0.5·transform + format + "
                "length.")
PRETEXT_GRPO_STAGE1 = StageSpec(
    name="pretext_grpo_stage1", model="pretext_grpo_model", start=FORMAT_WARMUP.model, trainer="grpo", samples=QUESTIONS_TABLE,
    prompt_format="pretext", transform_media=True, rewards=RewardSettings(length_window=VIDEO_R1_LENGTH_WINDOW),
    description="Pretext-GRPO stage I: transformed video/image, pretext question only; pretext accuracy + format, "
                "β 0.04.")
PRETEXT_GRPO_STAGE2 = StageSpec(
    name="pretext_grpo_stage2", model="pretext_grpo_stage2_model", start=PRETEXT_GRPO_STAGE1.model, trainer="grpo",
    samples=QUESTIONS_TABLE, prompt_format="r1", transform_media=False,
    rewards=RewardSettings(length_window=VIDEO_R1_LENGTH_WINDOW),
    description="Pretext-GRPO stage II: ordinary GRPO on the real questions from the stage-I model, β 0.04.")
COT_SFT = StageSpec(
    name="cot_sft", model="cot_sft_model", start=FORMAT_WARMUP.model, trainer="sft", samples=COT_TABLE,
    prompt_format="r1", transform_media=False,
    description="Plain-CoT SFT, the Video-R1 baseline's warm start: original clips, <think><answer>.")
VIDEO_R1_GRPO = StageSpec(
    name="video_r1_grpo", model="grpo_baseline_model", start=COT_SFT.model, trainer="grpo", samples=QUESTIONS_TABLE,
    prompt_format="r1", transform_media=False, rewards=RewardSettings(length_window=VIDEO_R1_LENGTH_WINDOW),
    description="Video-R1 baseline GRPO from the plain-CoT SFT model: original media, accuracy + format + length, "
                "β 0.04.")

# --- The arms --------------------------------------------------------------------------------

VISS_R1_ARM = Arm(
    name="viss_r1_arm", stages=(FORMAT_WARMUP, SSL_COT_SFT, VISS_R1_GRPO),
    scored=(BASE_MODEL, SSL_COT_SFT.model, VISS_R1_GRPO.model),
    description="The ViSS-R1 arm: warm-up → SSL-CoT SFT → ViSS-R1 RL, evaluated.")
PRETEXT_GRPO_ARM = Arm(
    name="pretext_grpo", stages=(FORMAT_WARMUP, PRETEXT_GRPO_STAGE1, PRETEXT_GRPO_STAGE2),
    scored=(BASE_MODEL, PRETEXT_GRPO_STAGE2.model),
    description="The Pretext-GRPO arm: warm-up → pretext-only GRPO (stage I) → ordinary GRPO (stage II), evaluated.")
VIDEO_R1_BASELINE_ARM = Arm(
    name="video_r1_baseline", stages=(FORMAT_WARMUP, COT_SFT, VIDEO_R1_GRPO),
    scored=(BASE_MODEL, VIDEO_R1_GRPO.model),
    description="The Video-R1 baseline arm: warm-up → plain-CoT SFT → GRPO, evaluated.")

# In the leaderboard's row order (the paper's methods first). Each arm is a job of its own.
ARMS: dict[str, Arm] = {arm.name: arm for arm in (VISS_R1_ARM, PRETEXT_GRPO_ARM, VIDEO_R1_BASELINE_ARM)}


class ArmsJob(BaseModel):
    """A job that trains and scores several arms from one data plane, into one leaderboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arms: tuple[Arm, ...]
    description: str

    @property
    def stages(self) -> tuple[StageSpec, ...]:
        return tuple(stages_of({arm.name: arm for arm in self.arms}).values())

    @property
    def scored(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(model for arm in self.arms for model in arm.scored))


# The main job: the card's whole chain, both of the paper's methods.
FULL_VISS_R1 = ArmsJob(
    name="full_viss_r1", arms=(VISS_R1_ARM, PRETEXT_GRPO_ARM),
    description="Everything the paper's two methods need, from annotations to trained models (ViSS-R1 and "
                "Pretext-GRPO), every model evaluated, one leaderboard.")


def arm_jobs(arms: dict[str, Arm]) -> list[ArmsJob]:
    """One job per arm, and the main job over the paper's methods where ``arms`` has them."""
    main = [FULL_VISS_R1] if all(arms.get(arm.name) == arm for arm in FULL_VISS_R1.arms) else []
    return [ArmsJob(name=arm.name, arms=(arm,), description=arm.description) for arm in arms.values()] + main


def stages_of(arms: dict[str, Arm]) -> dict[str, StageSpec]:
    """Every stage of ``arms`` once, by name; one name must mean one stage."""
    stages: dict[str, StageSpec] = {}
    for arm in arms.values():
        for stage in arm.stages:
            if stages.setdefault(stage.name, stage) != stage:
                raise ValueError(f"stage {stage.name!r} is defined twice with different settings (arm {arm.name!r})")
    models = [stage.model for stage in stages.values()]
    if len(set(models)) != len(models):
        raise ValueError(f"two stages make the same model asset: {sorted(models)}")
    return stages


def scored_models(arms: dict[str, Arm]) -> tuple[str, ...]:
    """Every model asset that can be scored, in the leaderboard's row order: the arms' (in the
    order they list them), then any checkpoint."""
    return tuple(dict.fromkeys([*(model for arm in arms.values() for model in arm.scored), CHECKPOINT]))


STAGES: dict[str, StageSpec] = stages_of(ARMS)


def stage_named(name: str) -> StageSpec:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"stage {name!r} is unknown; the registered stages are {', '.join(STAGES)} "
                         "(or give the whole stage: its StageSpec fields)") from None


def stage_making(model: str, stages: dict[str, StageSpec] | None = None) -> StageSpec | None:
    """The stage whose output is the model asset ``model`` (None: the base model, a checkpoint)."""
    return next((stage for stage in (stages or STAGES).values() if stage.model == model), None)

