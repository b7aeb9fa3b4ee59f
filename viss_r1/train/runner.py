"""What every training entry point does around its trainer: resume, train, save, report.

SFT and GRPO build different trainers; from there on they share this: resume from the last
checkpoint in ``output_dir/checkpoints`` (with the weights really restored), train, save the
final model and processor to ``output_dir/final`` and a ``result.json`` beside it, and — as a
command-line process — report the result to Dagster Pipes when Dagster launched it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from viss_r1.train.config import load_config
from viss_r1.train.reporting import end_distributed, is_main_process, pipes_session

FINAL_DIR = "final"
CHECKPOINT_DIR = "checkpoints"
RESULT_FILE = "result.json"


def train_resumable(trainer, output_dir: str, deepspeed: str | None, pipes: Any | None) -> tuple[Any, str | None]:
    """``(TrainOutput, checkpoint resumed from or None)``; the final model is in ``final/``."""
    from transformers.trainer_utils import get_last_checkpoint

    from viss_r1.train.policy import restore_checkpoint_weights

    checkpoints = Path(output_dir) / CHECKPOINT_DIR
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume and not deepspeed:
        restore_checkpoint_weights(trainer.model, resume)
    if pipes is not None and resume:
        pipes.log.info(f"resuming from {resume}")
    train = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(Path(output_dir) / FINAL_DIR))
    return train, resume


def write_result(trainer, output_dir: str, result: dict[str, Any]) -> None:
    """The processor beside the final model, and ``result.json`` (main process only)."""
    if is_main_process():
        trainer.processing_class.save_pretrained(str(Path(output_dir) / FINAL_DIR))
        (Path(output_dir) / RESULT_FILE).write_text(json.dumps(result, indent=2))


def command_line(description: str, config_type: type, run: Callable[..., dict[str, Any]], curve: str,
                 argv: list[str] | None = None) -> None:
    """``--config FILE`` → ``run(config, pipes)``; the result (without its per-step ``curve``)
    becomes the asset's materialization metadata when Dagster launched the process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help=f"YAML or JSON file holding a {config_type.__name__}")
    args, _ = parser.parse_known_args(argv)  # Pipes may append its own arguments
    config = load_config(args.config, config_type)
    with pipes_session() as pipes:
        result = run(config, pipes)
        if pipes is not None:
            pipes.report_asset_materialization(metadata={
                k: v for k, v in result.items() if k != curve and v is not None})
    end_distributed()
