"""What every training entry point does around its trainer: resume, train, save, report.

SFT and GRPO build different trainers; from there on they share this: resume from the last
complete checkpoint in ``output_dir/checkpoints`` (with the weights really restored), train, save the
final model and processor to ``output_dir/final`` and a ``result.json`` beside it. Their command
line and Dagster Pipes report are every stage process's (``viss_r1.process``)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from transformers import PrinterCallback, TrainerCallback

from viss_r1.process import is_main_process
from viss_r1.train.config import CHECKPOINT_DIR, FINAL_DIR, RESULT_FILE


class StepClock(TrainerCallback):
    """Wall time between consecutive optimizer steps (data loading, rollouts and logging included)."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now


def step_costs(trainer) -> dict[str, float | None]:
    """Median seconds per step of this run (the median, so the first step's warm-up does not
    dominate a short run) and peak GPU memory in GB (None when the run was not on CUDA)."""
    import torch

    clock = next((c for c in trainer.callback_handler.callbacks if isinstance(c, StepClock)), None)
    on_cuda = trainer.args.device.type == "cuda"
    return {
        "seconds_per_step": round(statistics.median(clock.seconds), 4) if clock and clock.seconds else None,
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3) if on_cuda else None,
    }


def train_resumable(trainer, output_dir: str, deepspeed: str | None, pipes: Any | None) -> tuple[Any, str | None]:
    """``(TrainOutput, checkpoint resumed from or None)``; the final model is in ``final/``."""
    from viss_r1.train.checkpoints import last_complete_checkpoint
    from viss_r1.train.policy import restore_checkpoint_weights

    # Not transformers' get_last_checkpoint: it takes a checkpoint a kill cut short during its save.
    log = pipes.log.warning if pipes is not None else print
    resume = last_complete_checkpoint(Path(output_dir) / CHECKPOINT_DIR, deepspeed=bool(deepspeed),
                                      optimizer=not trainer.args.save_only_model, log=log)
    if resume and not deepspeed:
        restore_checkpoint_weights(trainer.model, resume)
    if pipes is not None and resume:
        pipes.log.info(f"resuming from {resume}")
    trainer.add_callback(StepClock())
    # With disable_tqdm the Trainer prints every log entry as a Python dict; the StepReporter
    # already puts them in MLflow (and the Dagster event log) and writes the progress line.
    trainer.remove_callback(PrinterCallback)
    train = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(Path(output_dir) / FINAL_DIR))
    return train, resume


def write_result(trainer, output_dir: str, result: dict[str, Any]) -> None:
    """The processor beside the final model, and ``result.json`` (main process only), with the
    step time and peak GPU memory added (``step_costs``)."""
    result.update(step_costs(trainer))
    if is_main_process():
        trainer.processing_class.save_pretrained(str(Path(output_dir) / FINAL_DIR))
        (Path(output_dir) / RESULT_FILE).write_text(json.dumps(result, indent=2))
