"""SFT stage: ``python -m viss_r1.train.sft --config FILE`` (also under ``accelerate launch``).

The stage (``viss_r1.stages``) says what is trained: SSL-CoT SFT (``ssl_cot_sft``, ViSS-R1's warm
start) on transformed clips with the transform-and-answer prompt and the target
``<think>…</think>\\n<transform>X</transform>\\n<answer>…</answer>``, or plain-CoT SFT
(``cot_sft``, the Video-R1 baseline's warm start) on the original clips. TRL's ``SFTTrainer`` does the
training with our video collator; ``loss_on`` says which tokens carry the loss (the answer only,
or — as the release — the prompt too), ``training.schedule_horizon_*`` how long the LR
schedule is, apart from where training stops (``viss_r1.train.schedule``), and
``length_grouped_batches`` whether a batch holds rows of similar length
(``viss_r1.train.length_groups``), ``lm_head_loss`` whether the loss comes from TRL's fused LM
head or from the full logits (``viss_r1.train.logits_loss``). Checkpoints every ``save_steps``; a rerun with the same
``output_dir`` resumes from the last one. The final model and processor go to ``output_dir/final``
and a ``result.json`` beside it says what happened.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from viss_r1.process import command_line
from viss_r1.train.config import CHECKPOINT_DIR, FINAL_DIR, SFTRunConfig
from viss_r1.train.reporting import StepReporter
from viss_r1.train.runner import train_resumable, write_result
from viss_r1.tracking import system_metrics


def trainer_arguments(config: SFTRunConfig):
    """TRL ``SFTConfig`` from our settings; dataset preparation is skipped because the collator
    builds every batch from the frame cache."""
    import torch
    from trl import SFTConfig

    optim = config.training
    # On a machine without an accelerator say so: only then do several ranks (torchrun) form a
    # gloo process group on CPU instead of training side by side unaware of each other.
    cpu_only = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return SFTConfig(
        output_dir=str(Path(config.output_dir) / CHECKPOINT_DIR),
        **optim.trainer_fields(),
        deepspeed=optim.deepspeed,
        save_strategy="steps",
        logging_strategy="steps",
        report_to=[],
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        use_cpu=cpu_only,
    )


def run_sft(config: SFTRunConfig, pipes: Any | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train, save ``final/`` and ``result.json``; ``callbacks`` are extra ``TrainerCallback``s."""
    import datasets
    from trl import SFTTrainer

    from viss_r1.data.frame_cache import FrameCacheReader
    from viss_r1.modeling.vision_cache import vision_cache_summary
    from viss_r1.prompts import system_prompt_for
    from viss_r1.train.length_groups import row_lengths, with_length_grouping
    from viss_r1.train.logits_loss import with_logits_loss
    from viss_r1.train.policy import load_policy
    from viss_r1.train.schedule import with_schedule_horizon
    from viss_r1.train.sft_data import REHEARSAL_FORMAT, VideoSFTCollator, load_sft_rows

    started = time.perf_counter()
    output = Path(config.output_dir)
    # The training arguments come first: with a ZeRO-3 config they switch on deepspeed.zero.Init,
    # so from_pretrained shards the weights as it loads instead of putting 7B on every rank.
    arguments = trainer_arguments(config)
    model, processor = load_policy(config.model, config.training, config.model_revision)
    rows = load_sft_rows(config.samples, config.max_samples)
    stage = config.stage
    frames = FrameCacheReader(config.frame_shards, keep_bytes=config.decoded_clip_memory_mb * 2**20)
    collator = VideoSFTCollator(processor, frames, stage.prompt_format,
                                system_prompt_for(stage.prompt_format, config.wording, config.system_prompt),
                                stage.transform_media, config.loss_on, config.wording, config.empty_clip_fraction,
                                config.thought_names_transform, config.rehearsal_fraction,
                                system_prompt_for(REHEARSAL_FORMAT, config.wording, config.system_prompt))
    reporter = StepReporter(config.mlflow, pipes)
    # The LR schedule spans training.schedule_horizon_* when set, not the stop point.
    trainer_class = with_logits_loss(SFTTrainer) if config.lm_head_loss == "logits" else SFTTrainer
    trainer = with_schedule_horizon(with_length_grouping(trainer_class))(
        model=model, args=arguments, train_dataset=datasets.Dataset.from_list(rows), data_collator=collator,
        processing_class=processor, callbacks=[reporter, *callbacks])
    trainer.set_schedule_horizon(config.training.schedule_horizon_steps, config.training.schedule_horizon_epochs)
    length_seconds = 0.0
    if config.length_grouped_batches:
        measuring = time.perf_counter()
        trainer.set_row_lengths(row_lengths(collator, rows))
        length_seconds = time.perf_counter() - measuring
    with system_metrics(config.mlflow):
        train, resume = train_resumable(trainer, config.output_dir, config.training.deepspeed, pipes)
    final = output / FINAL_DIR
    result = {
        "stage": stage.name,
        "final_model": str(final),
        "resumed_from": resume,
        "global_step": trainer.state.global_step,
        "world_size": trainer.args.world_size,
        "samples": len(rows),
        "train_loss": train.training_loss,
        "first_loss": reporter.losses[0][1] if reporter.losses else None,
        "last_loss": reporter.losses[-1][1] if reporter.losses else None,
        "losses": reporter.losses,
        "tokens_seen": int(trainer.state.num_input_tokens_seen or 0),
        "length_grouped_batches": config.length_grouped_batches,
        "lm_head_loss": config.lm_head_loss,
        "row_length_seconds": round(length_seconds, 2),
        **vision_cache_summary(model),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_result(trainer, config.output_dir, result)
    return result


def main(argv: list[str] | None = None) -> None:
    command_line(__doc__.split("\n\n")[0], SFTRunConfig, run_sft, curve="losses", argv=argv)


if __name__ == "__main__":
    main()
