"""The arms' comparison table from hand-made evaluation results: exact means over samples then
seeds, visual reliance paired per sample, intervals that hold the mean, narrow with more samples
and widen with disagreeing seeds, reproducible; and which model stands for each arm."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from viss_r1.evaluate.comparison import (
    bootstrap,
    chart,
    compared_stage,
    compared_stages,
    comparison_table,
    sample_values,
    table_metrics,
    to_markdown,
)
from viss_r1.evaluate.run import RESULT_SCHEMA
from viss_r1.stages import ARMS, PRETEXT_GRPO_ARM, VIDEO_R1_BASELINE_ARM, VISS_R1_ARM, Arm


def results(conditions: dict[str, list], transform_correct: list | None = None) -> pl.DataFrame:
    """results.parquet rows: per condition, one score per sample (None: a failed sample)."""
    rows = []
    for condition, scores in conditions.items():
        for i, score in enumerate(scores):
            transformed = condition == "transformed"
            rows.append({name: None for name in RESULT_SCHEMA} | {
                "condition": condition, "sample_id": f"synthetic/{i}", "status": "failed" if score is None else "ok",
                "score": score, "correct": None if score is None else score >= 0.5,
                "transform": "arrow" if transformed else None,
                "transform_correct": transform_correct[i] if transformed and score is not None else None})
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def row(table: pl.DataFrame, label: str) -> dict:
    return table.filter(pl.col("arm") == label).row(0, named=True)


def test_means_are_exact_over_samples_then_seeds_with_every_condition_found_in_the_data():
    seed0 = results({"clean": [1, 0, 1, 1], "blind": [0, 0, 1, 0], "transformed": [1, 1, 0, 0],
                     "frame_drop_0.50": [1, 0, 0, 0], "no_video": [0, 0, 0, 1]},
                    transform_correct=[True, False, False, False])
    seed1 = results({"clean": [1, 1, 1, 1], "blind": [1, 0, 0, 0], "transformed": [1, 0, 0, 0],
                     "frame_drop_0.50": [1, 1, 0, 0], "no_video": [0, 0, 0, 0]},
                    transform_correct=[True, True, True, False])
    table = comparison_table({"arm_a": [seed0, seed1]}, models={"arm_a": "model_a"})
    assert table_metrics(table) == ["clean_accuracy", "blind_accuracy", "visual_reliance", "transformed_accuracy",
                                    "pretext_accuracy", "frame_drop_0.50_accuracy", "no_video_accuracy"]
    found = row(table, "arm_a")
    assert (found["model"], found["seeds"], found["samples"]) == ("model_a", 2, 4)
    expected = {"clean_accuracy": (75 + 100) / 2, "blind_accuracy": (25 + 25) / 2, "visual_reliance": (50 + 75) / 2,
                "transformed_accuracy": (50 + 25) / 2, "pretext_accuracy": (25 + 75) / 2,
                "frame_drop_0.50_accuracy": (25 + 50) / 2, "no_video_accuracy": (25 + 0) / 2}
    assert {name: found[name] for name in expected} == expected
    for name in expected:
        assert found[name + "_low"] <= found[name] <= found[name + "_high"], name


def test_visual_reliance_is_paired_per_sample_and_failed_samples_are_not_scored():
    # Sample 1's blind answer failed: it leaves blind accuracy and the reliance, not clean accuracy.
    metrics, values = sample_values(results({"clean": [1.0, 1.0, 0.0], "blind": [0.0, None, 0.0]}))
    assert metrics == ["clean_accuracy", "blind_accuracy", "visual_reliance"]
    np.testing.assert_allclose(values[:, 2], [100.0, np.nan, 0.0])
    found = row(comparison_table({"a": [results({"clean": [1.0, 1.0, 0.0], "blind": [0.0, None, 0.0]})]}), "a")
    assert found["clean_accuracy"] == 66.67 and found["blind_accuracy"] == 0.0
    assert found["visual_reliance"] == 50.0   # mean of (1 − 0, 0 − 0), not 66.67 − 0


def test_graded_scores_count_as_they_are():
    found = row(comparison_table({"a": [results({"clean": [0.5, 0.25, 1.0, 0.0]})]}), "a")
    assert found["clean_accuracy"] == 43.75


def test_the_interval_narrows_with_more_samples():
    def width(n: int) -> float:
        scores = [1.0 if i % 2 else 0.0 for i in range(n)]   # half right, at every size
        found = row(comparison_table({"a": [results({"clean": scores})]}), "a")
        assert found["clean_accuracy"] == 50.0
        assert found["clean_accuracy_low"] < 50.0 < found["clean_accuracy_high"]
        return found["clean_accuracy_high"] - found["clean_accuracy_low"]

    small, large = width(10), width(160)
    assert large < small / 2   # ∝ 1/√n: four times narrower for 16× the samples, give or take resampling noise


def test_disagreeing_seeds_widen_the_interval_to_both_of_them():
    # No noise within a seed; all of it between seeds: resampling the seeds spans both.
    found = row(comparison_table({"a": [results({"clean": [1.0] * 8}), results({"clean": [0.0] * 8})]}), "a")
    assert (found["clean_accuracy"], found["clean_accuracy_low"], found["clean_accuracy_high"]) == (50.0, 0.0, 100.0)
    single = row(comparison_table({"a": [results({"clean": [1.0] * 8})]}), "a")
    assert (single["clean_accuracy_low"], single["clean_accuracy_high"]) == (100.0, 100.0)


def test_the_table_is_reproducible_and_an_added_arm_leaves_the_others_as_they_were():
    seed = results({"clean": [1, 0, 1, 0, 0, 1, 1], "blind": [0, 0, 1, 0, 1, 0, 0]})
    alone = comparison_table({"a": [seed]})
    assert alone.equals(comparison_table({"a": [seed]}))
    beside = comparison_table({"b": [results({"clean": [1, 1, 0]})], "a": [seed]})
    assert beside["arm"].to_list() == ["b", "a"]   # rows in the given order
    assert row(beside, "a") == row(alone, "a")
    assert beside.columns == alone.columns


def test_bootstrap_of_a_metric_no_seed_has_is_nan():
    mean, low, high = bootstrap([np.array([[100.0, np.nan], [0.0, np.nan]])], np.random.default_rng(0), resamples=50)
    assert mean[0] == 50.0 and np.isnan(mean[1]) and np.isnan(low[1]) and np.isnan(high[1])
    with pytest.raises(ValueError, match="no seeds given"):
        bootstrap([], np.random.default_rng(0))


def test_markdown_and_chart_show_mean_and_interval():
    table = comparison_table({"a": [results({"clean": [1, 0], "blind": [0, 0]})], "b": [results({"clean": [1, 1]})]},
                             models={"a": "model_a", "b": "model_b"})
    lines = to_markdown(table).splitlines()
    assert lines[0] == "| arm | model | seeds | samples | clean_accuracy | blind_accuracy | visual_reliance |"
    a = row(table, "a")
    assert lines[2] == (f"| a | model_a | 1 | 2 | 50.0 [{a['clean_accuracy_low']:.1f}, {a['clean_accuracy_high']:.1f}] "
                        f"| 0.0 [0.0, 0.0] | 50.0 [{a['visual_reliance_low']:.1f}, {a['visual_reliance_high']:.1f}] |")
    assert lines[3].endswith("| – | – |")   # b has no blind condition
    figure = chart(table)
    (axes,) = figure.axes
    assert len(axes.patches) == 3 + 1   # a: three metrics, b: clean only
    assert [t.get_text() for t in axes.get_xticklabels()] == ["clean accuracy", "blind accuracy", "visual reliance"]


def test_each_arm_is_compared_by_the_last_model_of_its_own_stages():
    assert {name: stage.model for name, stage in compared_stages(ARMS).items()} == {
        VISS_R1_ARM.name: VISS_R1_ARM.stages[-1].model,
        VIDEO_R1_BASELINE_ARM.name: VIDEO_R1_BASELINE_ARM.stages[-1].model,
        PRETEXT_GRPO_ARM.name: PRETEXT_GRPO_ARM.stages[-1].model}
    # A job that trains the whole chain (ViSS-R1 and Pretext-GRPO) stands for ViSS-R1: the
    # Pretext-GRPO stages belong to the arm nested in it.
    whole = VISS_R1_ARM.model_copy(update={"stages": (*VISS_R1_ARM.stages, *PRETEXT_GRPO_ARM.stages)})
    arms = {whole.name: whole, PRETEXT_GRPO_ARM.name: PRETEXT_GRPO_ARM}
    assert compared_stage(whole, arms) == VISS_R1_ARM.stages[-1]
    assert compared_stage(PRETEXT_GRPO_ARM, arms) == PRETEXT_GRPO_ARM.stages[-1]
    twin = Arm(name="twin", stages=PRETEXT_GRPO_ARM.stages, scored=PRETEXT_GRPO_ARM.scored, description="the same")
    with pytest.raises(ValueError, match="two arms would be compared by the same model"):
        compared_stages({PRETEXT_GRPO_ARM.name: PRETEXT_GRPO_ARM, twin.name: twin})
