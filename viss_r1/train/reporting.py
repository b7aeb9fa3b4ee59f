"""Where a training process reports: MLflow step metrics, and the stage's progress line — to
Dagster through Pipes when Dagster launched it, else to stdout.

Only the main process reports (under accelerate/torchrun every rank runs this code). Metric
names are the same in every stage and arm, so MLflow's compare view lines the runs up."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from transformers import TrainerCallback

from viss_r1.process import is_main_process
from viss_r1.progress import Progress
from viss_r1.train.config import MlflowTarget

# The share of GRPO groups whose rollouts all scored alike (no advantage, no gradient) per step;
# its curve is kept in a GRPO stage's result.json (viss_r1.train.learning_signal judges it).
ZERO_SPREAD_METRIC = "rl/frac_groups_zero_reward_std"
# Trainer log key → our stable metric name.
STEP_METRICS = {
    "loss": "train/loss",
    "learning_rate": "train/learning_rate",
    "grad_norm": "train/grad_norm",
    "mean_token_accuracy": "train/token_accuracy",
    "entropy": "train/entropy",
    # GRPO (TRL's names): the same in every arm, so MLflow's compare view lines the arms up.
    "reward": "rl/reward",
    "reward_std": "rl/reward_std",
    "frac_reward_zero_std": ZERO_SPREAD_METRIC,
    "kl": "rl/kl",
    "completions/mean_length": "rl/completion_length",
    "completions/clipped_ratio": "rl/completion_clipped_ratio",
}
# TRL logs "rewards/<function name>/mean"; each arm's functions map onto shared component names.
REWARD_COMPONENTS = {
    "accuracy_reward": "accuracy", "pretext_accuracy_reward": "accuracy", "gated_reward": "accuracy",
    "transform_reward": "transform", "format_reward": "format", "transform_format_reward": "format",
    "length_reward": "length_bonus", "temporal_reward": "temporal_bonus",
}


def step_metrics(logs: Mapping[str, float]) -> dict[str, float]:
    """Our stable metric names for one Trainer log entry."""
    metrics = {name: float(logs[key]) for key, name in STEP_METRICS.items() if logs.get(key) is not None}
    for key, value in logs.items():
        if value is None:
            continue
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "rewards" and parts[2] in ("mean", "std"):
            component = REWARD_COMPONENTS.get(parts[1], parts[1])
            metrics[f"rl/reward/{component}" + ("_std" if parts[2] == "std" else "")] = float(value)
        elif len(parts) == 3 and parts[0] == "pretext" and parts[2] == "accuracy":
            metrics[f"rl/pretext_accuracy/{parts[1]}"] = float(value)
    return metrics


def key_metric(metrics: Mapping[str, float]) -> tuple[str, float]:
    """What the progress line shows: GRPO's reward (its loss sits near 0 whatever it learns: the
    advantages are centred per group), else SFT's loss."""
    if "rl/reward" in metrics:
        return "reward", metrics["rl/reward"]
    return "loss", metrics["train/loss"]


def logged_curve(log_history: Sequence[Mapping[str, Any]], name: str) -> list[tuple[int, float]]:
    """``(step, value)`` of our metric ``name`` at every logged step of a Trainer's
    ``state.log_history``, which a resumed run restores from its checkpoint (a callback only
    sees the steps since the resume)."""
    return [(int(entry["step"]), metrics[name]) for entry in log_history
            if "loss" in entry and name in (metrics := step_metrics(entry))]


class StepReporter(TrainerCallback):
    """Logs each Trainer log step to MLflow, keeps the loss and reward curves and writes the
    stage's progress line (``viss_r1.progress``). When Dagster launched the process, each log
    step's figures also go to its event log at DEBUG: in the Dagster UI, not on the console."""

    def __init__(self, mlflow: MlflowTarget | None, pipes: Any | None):
        self.client = None
        if mlflow is not None and is_main_process():
            from mlflow.tracking import MlflowClient

            self.client, self.run_id = MlflowClient(mlflow.tracking_uri), mlflow.run_id
        self.pipes = pipes
        self.losses: list[tuple[int, float]] = []
        self.rewards: list[tuple[int, float]] = []
        self.progress: Progress | None = None
        self._last = (time.perf_counter(), 0)

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        if state.is_world_process_zero:
            say = self.pipes.log.info if self.pipes is not None else print
            self.progress = Progress(state.max_steps, "step", say, start=state.global_step)

    def on_log(self, args, state, control, logs: Mapping[str, float] | None = None, **kwargs) -> None:
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        metrics = step_metrics(logs)
        now, tokens = time.perf_counter(), int(state.num_input_tokens_seen or 0)
        if tokens and now > self._last[0]:
            metrics["train/tokens_per_second"] = (tokens - self._last[1]) / (now - self._last[0])
        self._last = (now, tokens)
        self.losses.append((state.global_step, metrics["train/loss"]))
        if "rl/reward" in metrics:
            self.rewards.append((state.global_step, metrics["rl/reward"]))
        if self.client is not None:
            from mlflow.entities import Metric

            stamp = int(time.time() * 1000)
            self.client.log_batch(self.run_id, metrics=[
                Metric(name, value, stamp, state.global_step) for name, value in metrics.items()])
        if self.pipes is not None:
            shown = ", ".join(f"{k.split('/', 1)[1]} {v:.4g}" for k, v in metrics.items() if k.count("/") == 1)
            self.pipes.log.debug(f"step {state.global_step}/{state.max_steps}: {shown}")
        if self.progress is not None:
            self.progress.update(state.global_step, key_metric(metrics))

    def on_train_end(self, args, state, control, **kwargs) -> None:
        if self.progress is not None:
            self.progress.finish()

    def log_rollouts(self, step: int, rollouts: list[dict[str, Any]]) -> None:
        """Sample rollouts (prompt id, transform, completion, rewards, advantage) as an MLflow
        table artifact, one file per step."""
        if self.client is not None and rollouts:
            columns = sorted({key for row in rollouts for key in row})
            self.client.log_table(self.run_id, {c: [row.get(c) for row in rollouts] for c in columns},
                                  artifact_file=f"rollouts/step_{step:06d}.json")
