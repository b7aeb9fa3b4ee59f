"""Whether a GRPO stage had anything to learn from (METHOD.md §5).

GRPO's advantage is a rollout's reward minus its group's mean: a group whose rollouts all score
the same gives every rollout advantage 0, and a step on which every group is like that has no
policy gradient from the reward at all (only β·KL still pulls, towards the reference). A stage
that spends most of its steps so has learned nothing — typically a policy that never writes a
parsable answer, so every reward is 0. TRL logs the share of such groups per logged step as
``frac_reward_zero_std`` (ours: ``rl/frac_groups_zero_reward_std``); the stage's ``result.json``
keeps that curve, and this module judges it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

# The key of that curve in a GRPO stage's result.json: [[step, frac_groups_zero_reward_std], ...].
ZERO_SPREAD_RESULT = "frac_groups_zero_reward_std"
# "Most of its steps": more than half of the logged steps without a signal fails the stage.
DEFAULT_MAX_FRACTION_WITHOUT_SIGNAL = 0.5
# TRL averages 0/1 flags per group (and over the micro-batches of a logging step): "every group
# had zero spread" is 1.0 up to float rounding.
_ALL_GROUPS = 1.0 - 1e-9


def step_without_signal(frac_groups_zero_reward_std: float) -> bool:
    """Every group of the step scored its rollouts alike: no reward gradient on that step."""
    return frac_groups_zero_reward_std >= _ALL_GROUPS


@dataclass(frozen=True)
class LearningSignal:
    """What a GRPO stage's logged steps say about its learning signal."""

    steps: int                    # logged steps with the zero-spread metric
    steps_without_signal: int     # of those, the steps on which every group had zero reward spread
    mean_reward: float | None     # over the logged steps (None: no reward logged)

    @property
    def fraction_without_signal(self) -> float | None:
        return self.steps_without_signal / self.steps if self.steps else None

    def lacking(self, max_fraction: float) -> bool:
        """More than ``max_fraction`` of the steps had no signal (no logged steps: nothing to judge)."""
        if not 0.0 <= max_fraction <= 1.0:
            raise ValueError(f"max_fraction_without_signal {max_fraction!r} is not a fraction: give a value in [0, 1] "
                             "(1 never fails a stage)")
        return self.steps > 0 and self.fraction_without_signal > max_fraction

    def explain(self, stage: str, max_fraction: float) -> str:
        """The verdict for ``stage`` in words, with what to do when it lacks a signal."""
        if not self.steps:
            return f"GRPO stage {stage!r}: no logged step with the groups' reward spread, nothing to judge."
        counted = (f"GRPO stage {stage!r}: {self.steps_without_signal} of its {self.steps} logged steps had no reward "
                   f"spread in any group ({self.fraction_without_signal:.0%}; allowed: {max_fraction:.0%})")
        if not self.lacking(max_fraction):
            return counted + "."
        reward = "" if self.mean_reward is None else f", mean reward {self.mean_reward:.4g}"
        return (f"{counted}{reward}: it has no learning signal, so its model learned nothing from its rewards. "
                "Start the stage from a model that already writes the answer format (e.g. after the shared "
                "warm-up SFT stage) and check its rewards (rl/reward/* in MLflow, the sample rollout tables).")


def learning_signal(zero_spread: Sequence[Sequence[float]],
                    rewards: Sequence[Sequence[float]] = ()) -> LearningSignal:
    """Judge a stage from its curves: ``zero_spread`` is ``(step, frac_groups_zero_reward_std)``
    per logged step, ``rewards`` ``(step, mean reward)`` (both as ``result.json`` keeps them)."""
    without = sum(step_without_signal(frac) for _, frac in zero_spread)
    mean_reward = sum(value for _, value in rewards) / len(rewards) if rewards else None
    return LearningSignal(steps=len(zero_spread), steps_without_signal=without, mean_reward=mean_reward)


def result_learning_signal(result: dict) -> LearningSignal | None:
    """The verdict material of a GRPO stage's ``result.json`` (None: written before the curve was
    kept, so there is nothing to judge)."""
    if ZERO_SPREAD_RESULT not in result:
        return None
    return learning_signal(result[ZERO_SPREAD_RESULT], result.get("rewards") or ())
