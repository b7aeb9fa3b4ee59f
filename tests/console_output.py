"""What a stage process may print: its progress line (``viss_r1.progress``), never the Trainer's
per-step dicts. Shared by the training tests."""

from __future__ import annotations


def assert_progress_lines_not_trainer_dicts(printed: str, steps: int, metric: str) -> None:
    """A stage run by hand prints its progress line (to Dagster it goes through Pipes), never the
    Trainer's per-step dicts (``{'loss': ...}``) nor its closing ``{'train_runtime': ...}``."""
    lines = printed.splitlines()
    assert not [line for line in lines if line.startswith("{")], printed[-2000:]
    progress = [line for line in lines if line.startswith("step ")]
    assert progress, printed[-2000:]
    assert progress[0].startswith(f"step 1/{steps} ") and progress[-1].startswith(f"step {steps}/{steps} (100%)")
    assert len(progress) <= 11 and all(f" · {metric} " in line for line in progress), progress
