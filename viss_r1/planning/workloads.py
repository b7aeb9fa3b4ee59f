"""A stage's run settings → the ``Workload`` one GPU carries (``viss_r1.planning.plan``).

The settings are the library's own (``FrameSampling``, ``OptimSettings``, ``GRPOSettings``,
``EvalSettings``), resolved from a run config the way the assets resolve them. Two lengths are
not run settings and are assumptions of the plan, stated with it: the prompt's text and the SFT
target's length (a GRPO completion is planned at ``max_completion_length``, an evaluation answer
at ``max_new_tokens``: the longest they can be).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from viss_r1.evaluate.config import EvalSettings
from viss_r1.planning.memory import ZeroSettings
from viss_r1.planning.model import PlannedModel
from viss_r1.planning.plan import Media, Workload
from viss_r1.stages import StageSpec
from viss_r1.train.config import GRPOSettings, OptimSettings
from viss_r1.video.sampling import FrameSampling, floor_by_factor


class Assumptions(BaseModel):
    """Lengths no run setting fixes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # System prompt, instructions, the question with its options (ViSS-R1's adds the transform
    # question): a few hundred of Qwen's tokens; a bound.
    prompt_text_tokens: int = Field(default=512, gt=0)
    # An SSL-CoT / Video-R1-CoT target: <think> reasoning, <transform>, <answer>; a bound.
    sft_target_tokens: int = Field(default=1024, gt=0)


def stage_media(sampling: FrameSampling, data_types: tuple[str, ...] = ("video", "image")) -> Media:
    """The largest media of a stage's samples: ``num_frames`` (else ``max_frames``) frames, even,
    at ``max_pixels``; images at their upper bound."""
    frames = 0
    if "video" in data_types:
        wanted = sampling.num_frames if sampling.num_frames is not None else sampling.max_frames
        frames = floor_by_factor(wanted, sampling.frame_factor)
    images = sampling.image_pixel_bounds[1] if "image" in data_types else 0
    return Media(frames=frames, max_pixels=sampling.max_pixels if frames else 0, image_max_pixels=images)


def frozen_parameters(training: OptimSettings, model: PlannedModel) -> int:
    """Parameters ``freeze_vision_tower`` keeps out of the optimiser (viss_r1.train.policy)."""
    if not training.freeze_vision_tower:
        return 0
    params = model.parameters
    return params.vision_tower - (params.vision_merger if training.train_vision_merger else 0)


def training_workload(stage: StageSpec, sampling: FrameSampling, training: OptimSettings, zero: ZeroSettings,
                      model: PlannedModel, assumptions: Assumptions = Assumptions(),
                      grpo: GRPOSettings | None = None, loss_on_prompt: bool = False,
                      logits_loss: bool = False) -> Workload:
    """An SFT stage (``grpo`` None) or a GRPO stage as one training GPU carries it; ``logits_loss``:
    the SFT's loss from the full logits (``lm_head_loss: logits``)."""
    common = dict(stage=stage.name, media=stage_media(sampling, stage.data_types),
                  prompt_text_tokens=assumptions.prompt_text_tokens,
                  prompts_per_gpu=training.per_device_train_batch_size, zero=zero,
                  activation_checkpointing=training.activation_checkpointing,
                  frozen_parameters=frozen_parameters(training, model),
                  dtype_bytes=2 if training.bf16_weights else 4)
    if stage.trainer == "sft":
        return Workload(kind="sft", new_tokens=assumptions.sft_target_tokens, loss_on_prompt=loss_on_prompt,
                        logits_loss=logits_loss, **common)
    if grpo is None:
        raise ValueError(f"stage {stage.name!r} is a GRPO stage: give its rollout settings (GRPOSettings)")
    # TRL keeps a reference model whenever β ≠ 0, also where the KL stays out of the loss (ViSS-R1 logs it).
    return Workload(kind="grpo", new_tokens=grpo.max_completion_length, generations=grpo.num_generations,
                    reference_model=grpo.beta != 0.0, use_vllm=grpo.use_vllm,
                    vllm_max_concurrent=grpo.vllm_server.max_concurrent, **common)


def evaluation_workload(sampling: FrameSampling, settings: EvalSettings,
                        assumptions: Assumptions = Assumptions()) -> Workload:
    """One evaluation process (one GPU, bf16) answering a benchmark in decoding batches."""
    decoding = settings.decoding
    return Workload(stage="evaluation", kind="evaluation", media=stage_media(sampling),
                    prompt_text_tokens=assumptions.prompt_text_tokens, new_tokens=decoding.max_new_tokens,
                    prompts_per_gpu=decoding.batch_size, use_vllm=bool(settings.vllm_server.url),
                    vllm_max_concurrent=settings.vllm_server.max_concurrent, activation_checkpointing=False)
