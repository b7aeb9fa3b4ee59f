"""Typed run configs of the training processes, read from a YAML or JSON file.

The same objects are written by the Dagster assets and by a user launching a stage by hand, so
a run config in ``infra/configs/`` and an asset run mean exactly the same thing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from viss_r1.modeling.vllm_server import VLLMServer
from viss_r1.process import StrictModel
from viss_r1.prompts import PromptWording, PromptWordingName
from viss_r1.rewards import RewardSettings
from viss_r1.stages import StageSpec, stage_named


class MlflowTarget(StrictModel):
    """The MLflow run that receives the step metrics (the asset's nested run), and the machine's
    system metrics every ``system_metrics_interval_s`` seconds while the stage works (0: none)."""

    tracking_uri: str
    run_id: str
    system_metrics_interval_s: float = Field(default=10.0, ge=0.0)


class OptimSettings(StrictModel):
    """Trainer settings shared by SFT and GRPO. Defaults: the release's 7B recipe (METHOD.md §6);
    the embedded default overrides them for the tiny model (``viss_r1.embedded``)."""

    num_train_epochs: float = 1.0
    max_steps: int = -1                      # > 0 overrides epochs
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.0               # an int: steps; a float in [0, 1): fraction of all steps
    weight_decay: float = 0.01
    max_grad_norm: float = 5.0
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 2     # 8 GPUs × 1 × 2 = effective batch 16
    bf16: bool = True
    # With bf16: the weights (and so the optimizer's updates) stay float32 and the forward computes in
    # bf16 under autocast, mixed precision. Off, the weights themselves are bf16, as the release loads
    # them (its DeepSpeed keeps float32 master copies; a plain optimizer on bf16 weights drops every
    # update below bf16's resolution).
    float32_weights: bool = False
    activation_checkpointing: bool = True    # a.k.a. gradient checkpointing
    freeze_vision_tower: bool = False        # train only the language model (and its embeddings)
    # With the tower frozen, still train its merger: the projector from vision features into the
    # language model, the part LLaVA-style recipes train first (viss_r1.train.policy).
    train_vision_merger: bool = False
    # Megabytes of a frozen tower's per-clip outputs kept for the clip's next reading (another epoch,
    # another row or rollout of the clip: viss_r1.modeling.vision_cache); 0 keeps none, and nothing is
    # kept while the tower or its merger trains. A cached clip reads what computing it again gives.
    frozen_vision_cache_mb: int = Field(default=0, ge=0)
    deepspeed: str | None = None             # a ZeRO JSON from infra/deepspeed/
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 1
    seed: int = 42
    dataloader_num_workers: int = 0
    # The LR schedule's horizon, apart from where training stops (max_steps / num_train_epochs):
    # the release decays its cosine over one epoch of the data and stopped its RL run near step
    # 2,000, where the rate is still ≈1e-6 (METHOD.md §6). None: the stop point. Warmup given as
    # a fraction is a fraction of the horizon. (viss_r1.train.schedule)
    schedule_horizon_steps: int | None = Field(default=None, gt=0)
    schedule_horizon_epochs: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_horizon(self) -> "OptimSettings":
        if self.schedule_horizon_steps is not None and self.schedule_horizon_epochs is not None:
            raise ValueError(f"schedule_horizon_steps ({self.schedule_horizon_steps}) and schedule_horizon_epochs "
                             f"({self.schedule_horizon_epochs}) are both set: give the LR schedule's horizon one way")
        return self

    @property
    def bf16_weights(self) -> bool:
        """Whether the weights themselves are bf16 (``bf16`` without ``float32_weights``)."""
        return self.bf16 and not self.float32_weights

    def trainer_fields(self, *exclude: str) -> dict[str, Any]:
        """The fields that are transformers ``TrainingArguments`` as they are named there (the
        horizon is ours: the trainer's ``create_scheduler`` reads it, ``viss_r1.train.schedule``;
        ``float32_weights`` is the dtype ``viss_r1.train.policy`` loads the weights in, and the vision
        cache is set up there too)."""
        return self.model_dump(exclude={"deepspeed", "freeze_vision_tower", "train_vision_merger",
                                        "frozen_vision_cache_mb", "float32_weights", "schedule_horizon_steps",
                                        "schedule_horizon_epochs", *exclude})


# What the SFT loss is computed on:
# - "assistant": the assistant turn only (its text and closing <|im_end|>);
# - "all_but_padding_and_vision": every token (system and user prompt included) except padding
#   and every vision token (<|vision_start|>, <|vision_end|>, <|vision_pad|>, <|image_pad|>,
#   <|video_pad|>): what METHOD.md §6 describes;
# - "all_but_padding_and_image_pad": what the release's sft_video.py collate_fn really masks on
#   Qwen2.5-VL: the pad token and `processor.image_token` only. Its list [151652, 151653, 151656]
#   (vision start/end, video pad) is taken only for a Qwen2VLProcessor, which Qwen2_5_VLProcessor
#   is not (it subclasses ProcessorMixin), so video placeholders and vision start/end are trained.
SFTLossOn = Literal["assistant", "all_but_padding_and_vision", "all_but_padding_and_image_pad"]
SFT_LOSS_ON: tuple[str, ...] = get_args(SFTLossOn)

# How the SFT's next-token loss is computed; the same loss either way, rounded differently:
# - "fused": TRL's chunked LM-head kernel, which never builds the (tokens × vocabulary) logits;
# - "logits": the full logits, then cross entropy, as transformers' own loss and the release
#   (viss_r1.train.logits_loss): faster where the vocabulary is small (the tiny model's 1,215).
LmHeadLoss = Literal["fused", "logits"]


# What a training run leaves in its output_dir (viss_r1.train.runner writes it; the training
# assets read it without importing the trainer's dependencies): checkpoints while it runs, then the
# final model and, written last, the result.
CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = "final"
RESULT_FILE = "result.json"


def _registered(value: Any) -> Any:
    """A stage given by name in a hand-written run config: the registered one (viss_r1.stages)."""
    return stage_named(value) if isinstance(value, str) else value


class SFTRunConfig(StrictModel):
    """One SFT run: the model to start from, the stage (prompt format, transformed media or not),
    the samples, how to train."""

    stage: StageSpec                         # a registered stage's name (e.g. ssl_cot_sft) or a whole StageSpec
    model: str                               # local folder or hub id; trust_remote_code stays off
    model_revision: str | None = None        # a hub id's commit sha or tag (the cache key pins it)
    output_dir: str                          # checkpoints/ and final/ go here
    samples: str                             # Parquet table of the stage's samples (pretext_samples)
    frame_shards: list[Path]                 # frame-cache shard files holding the samples' clips
    system_prompt: str | None = None         # None: viss_r1.prompts.DEFAULT_SYSTEM_PROMPT
    # "release": the authors' sft_video.py strings and system prompts (viss_r1.release_prompts)
    prompt_wording: PromptWordingName = "ours"
    max_samples: int | None = None
    loss_on: SFTLossOn = "assistant"         # which tokens carry the loss (SFTLossOn above)
    # Rows shown an empty clip with a thought that says so (viss_r1.train.sft_data): 0 as the
    # release; the embedded tiny model needs some (viss_r1.embedded.EMBEDDED_EMPTY_CLIP_FRACTION).
    empty_clip_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    # A row shown a transformed clip is trained on a thought about that clip: its record's reasoning
    # for the view, else the transform's sentence before the record's reasoning (viss_r1.pretext.narration);
    # off as the release, whose SSL-CoT reasoning is already written on the transformed clip.
    thought_names_transform: bool = False
    # Rows shown as the shared warm-up shows them (the original clip, Video-R1's prompt, the record's
    # reasoning; viss_r1.train.sft_data): 0 as the release; the embedded tiny model needs some
    # (viss_r1.embedded.EMBEDDED_REHEARSAL_FRACTION).
    rehearsal_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    # Batches of rows of similar length, shuffled (viss_r1.train.length_groups): less padding, other
    # batches than a plain shuffle's; off as the release (viss_r1.embedded.EMBEDDED_LENGTH_GROUPED_BATCHES).
    length_grouped_batches: bool = False
    # How the next-token loss is computed (LmHeadLoss above); "fused" as TRL, which the memory
    # planner assumes (viss_r1.planning.memory).
    lm_head_loss: LmHeadLoss = "fused"
    # Decoded clips kept in memory for their next read (the next epoch, another row of the same clip):
    # megabytes of frames (viss_r1.data.frame_cache.FrameCacheReader); 0 keeps none.
    decoded_clip_memory_mb: int = Field(default=512, ge=0)
    training: OptimSettings = Field(default_factory=OptimSettings)
    mlflow: MlflowTarget | None = None

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_by_name(cls, value: Any) -> Any:
        return _registered(value)

    @model_validator(mode="after")
    def _sft_stage(self) -> "SFTRunConfig":
        if self.stage.trainer != "sft":
            raise ValueError(f"stage {self.stage.name!r} is a {self.stage.trainer} stage; an SFT run needs an SFT stage")
        return self

    @property
    def wording(self) -> PromptWording:
        return PromptWording(self.prompt_wording, "sft")


class GRPOSettings(StrictModel):
    """Rollouts and the policy loss. Defaults: the release (METHOD.md §5); TRL's own defaults
    differ (beta 0, loss "dapo", top_p 1.0, 512 tokens). Any TRL ``loss_type`` works."""

    num_generations: int = 8                 # G rollouts per prompt
    temperature: float = 1.0
    top_p: float = 0.95
    max_completion_length: int = 768
    beta: float = 0.04                       # KL coefficient (k3 estimator)
    kl_in_loss: bool | None = None           # None: the stage's choice (StageSpec.kl_in_loss; ViSS-R1 logs KL only)
    loss_type: str = "grpo"                  # per-sequence token mean, then mean over sequences
    scale_rewards: str = "group"             # advantage = (r - mean_G) / (std_G + 1e-4)
    epsilon: float = 0.2
    num_iterations: int = 1                  # one gradient step per rollout batch
    mask_truncated_completions: bool = False
    use_vllm: bool = False                   # rollouts on the vLLM server at vllm_server.url (its own environment)
    vllm_server: VLLMServer = Field(default_factory=VLLMServer)
    vllm_sync_dir: str = ""                  # where the policy is written for the server to reload; "": output_dir/vllm_sync
    rollout_table_steps: int = 10            # a table of sample rollouts to MLflow every N steps

    @model_validator(mode="after")
    def _server_for_vllm(self) -> "GRPOSettings":
        if self.use_vllm and not self.vllm_server.url:
            raise ValueError("use_vllm: rollouts run on a vLLM server in its own environment (vLLM pins its own "
                             "torch and transformers); start `VLLM_SERVER_DEV_MODE=1 vllm serve <model> --host 127.0.0.1` "
                             "(its reload endpoint has no authentication) and set "
                             "vllm_server.url, or set use_vllm: false to generate rollouts with transformers")
        return self

    def kl_penalised(self, stage: StageSpec) -> bool:
        """β·KL in the loss: as set here, else as the stage has it."""
        return self.kl_in_loss if self.kl_in_loss is not None else stage.kl_in_loss


class GRPORunConfig(StrictModel):
    """One GRPO run of one stage (viss_r1.stages): its prompt format, media, reward and KL say
    what is trained; ``rewards`` is the stage's reward with this run's changes."""

    stage: StageSpec                         # a registered stage's name (e.g. viss_r1_grpo) or a whole StageSpec
    model: str
    model_revision: str | None = None        # a hub id's commit sha or tag (the cache key pins it)
    output_dir: str
    samples: str                             # Parquet table of pretext-sample rows
    frame_shards: list[Path]
    system_prompt: str | None = None
    # "release": the authors' strings of grpo.py, grpo_trainer.py, grpo_trainer_pretext.py
    prompt_wording: PromptWordingName = "ours"
    max_samples: int | None = None
    # The stage's reward settings; fields given here (e.g. {temporal: true}) replace the stage's.
    rewards: RewardSettings
    training: OptimSettings = Field(default_factory=OptimSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    mlflow: MlflowTarget | None = None

    @model_validator(mode="before")
    @classmethod
    def _rewards_over_the_stage(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "stage" not in data:
            return data
        stage = _registered(data["stage"])
        stage = stage if isinstance(stage, StageSpec) else StageSpec.model_validate(stage)
        given = data.get("rewards") or {}
        if isinstance(given, RewardSettings):
            return {**data, "stage": stage}
        if stage.rewards is None:
            raise ValueError(f"stage {stage.name!r} is a {stage.trainer} stage; a GRPO run needs a GRPO stage")
        return {**data, "stage": stage, "rewards": {**stage.rewards.model_dump(), **given}}

    @property
    def kl_in_loss(self) -> bool:
        return self.grpo.kl_penalised(self.stage)

    @property
    def wording(self) -> PromptWording:
        return PromptWording(self.prompt_wording, "grpo")


class CotAnnotationRunConfig(StrictModel):
    """One SSL-CoT re-annotation run (``python -m viss_r1.annotate``)."""

    annotator: str                      # local checkpoint or hub id (the release: Qwen2.5-VL-72B-Instruct)
    samples: str                        # pretext-sample table (SFT use): record + transform spec
    frame_shards: list[Path]
    output_dir: str
    # hinted (the release's anno_sft_72b.py): the annotator is shown the true transform and answer
    # and writes the reasoning that reaches them; blind: our ViSS-R1 prompt, nothing shown.
    prompt: Literal["hinted", "blind"] = "hinted"
    min_answer_accuracy: float = 1.0    # kept only if the answer scores at least this (free-form: ROUGE)
    max_samples: int | None = None
    max_new_tokens: int = 1024
    temperature: float = 0.01
    top_p: float = 0.001
    batch_size: int = 8
