"""A GRPO stage's learning signal judged from its per-step zero-spread curve (hand-made curves)."""

import pytest

from viss_r1.train.learning_signal import (
    DEFAULT_MAX_FRACTION_WITHOUT_SIGNAL,
    ZERO_SPREAD_RESULT,
    LearningSignal,
    learning_signal,
    result_learning_signal,
    step_without_signal,
)


def curve(*values: float) -> list[tuple[int, float]]:
    return [(step, value) for step, value in enumerate(values, start=1)]


def test_a_stage_whose_every_step_had_zero_spread_lacks_a_signal():
    signal = learning_signal(curve(1.0, 1.0, 1.0, 1.0), curve(0.0, 0.0, 0.0, 0.0))
    assert signal == LearningSignal(steps=4, steps_without_signal=4, mean_reward=0.0)
    assert signal.fraction_without_signal == 1.0
    assert signal.lacking(DEFAULT_MAX_FRACTION_WITHOUT_SIGNAL)
    assert signal.explain("stage_one", 0.5) == (
        "GRPO stage 'stage_one': 4 of its 4 logged steps had no reward spread in any group (100%; allowed: 50%), "
        "mean reward 0: it has no learning signal, so its model learned nothing from its rewards. Start the stage "
        "from a model that already writes the answer format (e.g. after the shared warm-up SFT stage) and check its "
        "rewards (rl/reward/* in MLflow, the sample rollout tables).")


def test_only_steps_where_every_group_had_zero_spread_count():
    # 0.75: one group in four still had a spread, so that step still has a gradient.
    signal = learning_signal(curve(1.0, 0.75, 0.0, 1.0, 0.5), curve(0.0, 0.5, 1.0, 0.0, 1.0))
    assert (signal.steps, signal.steps_without_signal) == (5, 2)
    assert signal.fraction_without_signal == pytest.approx(0.4)
    assert signal.mean_reward == pytest.approx(0.5)
    assert not signal.lacking(0.5)
    assert signal.explain("stage_one", 0.5) == ("GRPO stage 'stage_one': 2 of its 5 logged steps had no reward "
                                                "spread in any group (40%; allowed: 50%).")


def test_exactly_at_the_threshold_passes_and_just_above_fails():
    half = learning_signal(curve(1.0, 1.0, 0.0, 0.5))
    assert half.fraction_without_signal == 0.5 and half.mean_reward is None
    assert not half.lacking(0.5)
    assert half.lacking(0.49)
    assert learning_signal(curve(1.0, 1.0, 1.0, 0.5)).lacking(0.5)   # 3 of 4: "most of its steps"


def test_all_groups_is_one_up_to_float_rounding():
    # TRL averages per-group 0/1 flags over micro-batches: 1.0 may come back a hair off.
    assert step_without_signal(1.0) and step_without_signal(sum([0.1] * 10))   # 0.9999999999999999
    assert not step_without_signal(0.999)


def test_the_threshold_is_a_fraction_and_one_never_fails():
    everything = learning_signal(curve(1.0, 1.0))
    assert not everything.lacking(1.0)
    assert everything.lacking(0.0)
    with pytest.raises(ValueError, match=r"max_fraction_without_signal 1\.5 is not a fraction"):
        everything.lacking(1.5)


def test_no_logged_steps_is_nothing_to_judge():
    empty = learning_signal([])
    assert empty.steps == 0 and empty.fraction_without_signal is None and not empty.lacking(0.0)
    assert empty.explain("stage_one", 0.5) == ("GRPO stage 'stage_one': no logged step with the groups' reward "
                                               "spread, nothing to judge.")


def test_a_result_json_is_read_as_the_grpo_stage_writes_it():
    result = {"rewards": [[1, 0.0], [2, 0.4]], ZERO_SPREAD_RESULT: [[1, 1.0], [2, 0.0]]}
    assert result_learning_signal(result) == LearningSignal(steps=2, steps_without_signal=1, mean_reward=0.2)
    assert result_learning_signal({"rewards": [[1, 0.0]]}) is None   # built before the curve was kept
