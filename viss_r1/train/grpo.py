"""GRPO stage: ``python -m viss_r1.train.grpo --config FILE`` (also under ``accelerate launch``).

One process trains one GRPO stage of one arm (METHOD.md §1, §5, §6); the stage (``viss_r1.stages``)
says what is trained: its prompt format (``transform_answer``: transformed video, transform +
user question; ``pretext``: the pretext question only; ``r1``: Video-R1's question on the original
media), its reward (``viss_r1.rewards.stage_rewards``: functions from the format, weights and
windows from the settings) and whether β·KL is in the loss. Ablations are reward settings, e.g.
``rewards: {use_accuracy: false}`` (transform + format) or ``{temporal: true}`` (T-GRPO).
Checkpoints every ``save_steps``; a rerun with the same ``output_dir`` resumes from the last one.
The final model goes to ``output_dir/final`` and ``result.json`` says what happened.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from viss_r1.process import command_line
from viss_r1.train.config import CHECKPOINT_DIR, FINAL_DIR, GRPORunConfig
from viss_r1.train.learning_signal import ZERO_SPREAD_RESULT
from viss_r1.train.reporting import ZERO_SPREAD_METRIC, StepReporter, logged_curve
from viss_r1.train.runner import train_resumable, write_result
from viss_r1.tracking import system_metrics

# The per-sample columns the rewards and the rollout table read.
ROW_COLUMNS = ("sample_id", "problem_type", "solution", "transform_name", "transform_letter", "data_type")


def trainer_arguments(config: GRPORunConfig, reward_weights: list[float]):
    """``VideoGRPOConfig`` (TRL's ``GRPOConfig`` and the video fields) from our settings and the
    stage's. ``per_device_train_batch_size`` counts completions in TRL, so one prompt per device
    and step is G completions."""
    import torch

    from viss_r1.modeling.generation import NEUTRAL_GENERATION
    from viss_r1.train.video_grpo import VideoGRPOConfig

    optim, grpo = config.training, config.grpo
    cpu_only = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return VideoGRPOConfig(
        output_dir=str(Path(config.output_dir) / CHECKPOINT_DIR),
        # activation_checkpointing, not GRPOConfig's gradient_checkpointing: transformers 5's
        # deprecated alias, which warns
        **optim.trainer_fields("per_device_train_batch_size"),
        per_device_train_batch_size=optim.per_device_train_batch_size * grpo.num_generations,
        deepspeed=optim.deepspeed,
        # TRL's own use_vllm stays off: its vLLM paths take images only (server rollouts: ours)
        **grpo.model_dump(exclude={"kl_in_loss", "rollout_table_steps", "use_vllm", "vllm_server", "vllm_sync_dir"}),
        # Every sampling parameter explicit, so a checkpoint's generation_config.json changes none
        # (TRL already passes temperature, top_p, top_k 0, repetition_penalty 1.0, do_sample and
        # max_new_tokens; generate() fills any field left None from the checkpoint).
        generation_kwargs=dict(NEUTRAL_GENERATION),
        reward_weights=reward_weights,
        kl_in_loss=config.kl_in_loss,
        pretext_tag=config.stage.pretext_tag,
        # T-GRPO: half as many shuffled-frame rollouts as ordered ones (Video-R1)
        temporal_rollouts=max(1, grpo.num_generations // 2) if config.rewards.temporal else 0,
        rollout_table_steps=grpo.rollout_table_steps,
        save_strategy="steps",
        logging_strategy="steps",
        report_to=[],
        remove_unused_columns=False,
        disable_tqdm=True,
        log_completions=False,
        use_cpu=cpu_only,
    )


def load_rows(config: GRPORunConfig) -> list[dict[str, Any]]:
    import polars as pl

    rows = pl.read_parquet(config.samples).sort("sample_id").to_dicts()
    rows = [row for row in rows if row["data_type"] in config.stage.data_types]
    if not rows:
        raise ValueError(f"{config.samples}: no {'/'.join(config.stage.data_types)} rows for GRPO stage "
                         f"{config.stage.name!r}")
    return rows[:config.max_samples] if config.max_samples else rows


def build_trainer(config: GRPORunConfig, pipes: Any | None = None, callbacks: Sequence[Any] = ()):
    """``(trainer, reporter, rows)`` for one stage, ready to train."""
    import datasets

    from viss_r1.data.frame_cache import FrameCacheReader
    from viss_r1.data.requests import row_request
    from viss_r1.prompts import build_prompt, chat_messages, system_prompt_for
    from viss_r1.rewards import stage_rewards
    from viss_r1.train.policy import load_policy
    from viss_r1.train.schedule import with_schedule_horizon
    from viss_r1.train.video_grpo import VideoGRPOTrainer

    stage = config.stage
    rewards = stage_rewards(stage.prompt_format, config.rewards)
    arguments = trainer_arguments(config, rewards.weights)
    model, processor = load_policy(config.model, config.training, config.model_revision)
    rollouts = server_rollouts(config, processor.tokenizer)
    rows = load_rows(config)
    system = system_prompt_for(stage.prompt_format, config.wording, config.system_prompt)
    frames = FrameCacheReader(config.frame_shards)
    by_id = {row["sample_id"]: row for row in rows}

    def prompt_request(row):
        return row_request(by_id[row["sample_id"]], frames, stage.prompt_format, system, stage.transform_media,
                           wording=config.wording)

    # The dataset holds the prompt text (TRL needs a conversational "prompt") and the per-sample
    # columns; frames are read from the frame cache when a batch is encoded.
    dataset = datasets.Dataset.from_list([
        {"prompt": chat_messages(build_prompt(stage.prompt_format, row, config.wording), row["data_type"], system),
         **{k: row.get(k) for k in ROW_COLUMNS}} for row in rows])
    reporter = StepReporter(config.mlflow, pipes)
    # The LR schedule spans training.schedule_horizon_* when set, not the stop point.
    trainer = with_schedule_horizon(VideoGRPOTrainer)(
        model=model, reward_funcs=rewards.funcs, args=arguments, train_dataset=dataset,
        processing_class=processor, callbacks=[reporter, *callbacks], prompt_request=prompt_request,
        rollout_sink=reporter.log_rollouts,
        rollouts=rollouts)
    trainer.set_schedule_horizon(config.training.schedule_horizon_steps, config.training.schedule_horizon_epochs)
    return trainer, reporter, rows


def server_rollouts(config: GRPORunConfig, tokenizer):
    """``ServerRollouts`` when ``grpo.use_vllm``, after checking the server serves the stage's
    starting model; None for transformers rollouts."""
    from viss_r1.modeling.tiny import VISION_TOKENS
    from viss_r1.modeling.vllm_server import served_model_name
    from viss_r1.train.server_rollouts import ServerRollouts

    grpo = config.grpo
    if not grpo.use_vllm:
        return None
    return ServerRollouts(grpo.vllm_server, served_model_name(grpo.vllm_server, config.model),
                          grpo.vllm_sync_dir or Path(config.output_dir) / "vllm_sync",
                          tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)))


def run_grpo(config: GRPORunConfig, pipes: Any | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train, save ``final/`` and ``result.json``; ``callbacks`` are extra ``TrainerCallback``s."""
    from viss_r1.modeling.vision_cache import vision_cache_summary

    started = time.perf_counter()
    trainer, reporter, rows = build_trainer(config, pipes, callbacks)
    with system_metrics(config.mlflow):
        train, resume = train_resumable(trainer, config.output_dir, config.training.deepspeed, pipes)
    final = Path(config.output_dir) / FINAL_DIR
    result = {
        "stage": config.stage.name,
        "final_model": str(final),
        "resumed_from": resume,
        "global_step": trainer.state.global_step,
        "world_size": trainer.args.world_size,
        "prompts": len(rows),
        "train_loss": train.training_loss,
        "rewards": reporter.rewards,
        # The whole run's, resumed steps included: the stage's learning-signal check reads it.
        ZERO_SPREAD_RESULT: logged_curve(trainer.state.log_history, ZERO_SPREAD_METRIC),
        "first_reward": reporter.rewards[0][1] if reporter.rewards else None,
        "last_reward": reporter.rewards[-1][1] if reporter.rewards else None,
        "kl_in_loss": config.kl_in_loss,
        **vision_cache_summary(trainer.model),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_result(trainer, config.output_dir, result)
    return result


def main(argv: list[str] | None = None) -> None:
    command_line(__doc__.split("\n\n")[0], GRPORunConfig, run_grpo, curve="rewards", argv=argv)


if __name__ == "__main__":
    main()
