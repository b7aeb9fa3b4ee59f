"""Evaluation metrics and benchmark registry (METHOD.md §8): exact values on hand-made outputs,
and the benchmark fixtures in each release file's schema."""

from __future__ import annotations

import functools
import json

import av
import pytest
from benchmark_fixtures import MISSING_PROBLEM_ID, NUM_FRAMES, RECORDS, write_benchmark_fixture

from viss_r1.answers import extract_answer
from viss_r1.data.records import load_annotation_file
from viss_r1.evaluate.benchmarks import BENCHMARKS, BenchmarkSpec
from viss_r1.evaluate.metrics import (
    MRA_THRESHOLDS,
    VSI_TASKS,
    benchmark_scores,
    mean_relative_accuracy,
    parse_prediction,
    score_sample,
)
from viss_r1.rewards import accuracy
from viss_r1.synthetic import SyntheticConfig

EXACT = functools.partial(pytest.approx, abs=1e-12)
ACCURACY, VSI, MVBENCH = BENCHMARKS["mmvu"], BENCHMARKS["vsi_bench"], BENCHMARKS["mvbench"]


def row(score: float | None, task: str | None = None, problem_type: str = "multiple choice",
        status: str = "ok") -> dict:
    return {"problem_type": problem_type, "task": task, "status": status, "score": score}


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

def test_benchmarks_follow_table_1_then_synthetic():
    assert [s.title for s in BENCHMARKS.values()] == [
        "VSI-Bench", "VideoMMMU", "MMVU", "MVBench", "TempCompass", "VideoMME", "Synthetic"]
    assert list(BENCHMARKS) == ["vsi_bench", "videommmu", "mmvu", "mvbench", "tempcompass", "videomme", "synthetic"]
    assert {s.name: s.eval_file for s in BENCHMARKS.values() if s.name != "synthetic"} == {
        "vsi_bench": "eval_vsibench.json", "videommmu": "eval_videommmu.json", "mmvu": "eval_mmvu.json",
        "mvbench": "eval_mvbench.json", "tempcompass": "eval_tempcompass.json", "videomme": "eval_videomme.json"}
    assert {s.name: s.scoring for s in BENCHMARKS.values()} == {
        "vsi_bench": "vsi_bench", "videommmu": "accuracy", "mmvu": "accuracy", "mvbench": "mvbench",
        "tempcompass": "accuracy", "videomme": "accuracy", "synthetic": "accuracy"}
    with pytest.raises(ValueError, match="scoring 'f1'"):
        BenchmarkSpec("x", "X", "x.json", (), "f1")


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

def test_parse_prediction_reads_the_first_answer_tag_stripped():
    assert parse_prediction("<think>hmm</think><answer>  B \n</answer>") == "B"
    assert parse_prediction("<answer>B</answer> then <answer>C</answer>") == "B"
    assert parse_prediction("<answer>\nline one\nline two\n</answer>") == "line one\nline two"


def test_parse_prediction_falls_back_to_the_whole_output_without_a_tag():
    assert parse_prediction("  B \n") == "B"
    assert parse_prediction("<think>it is B</think> B") == "<think>it is B</think> B"
    assert parse_prediction("<answer>B") == "<answer>B"  # unclosed: no tag
    assert parse_prediction("<answer></answer>") == ""  # a tag, empty: an empty answer, not the output
    assert parse_prediction(None) == ""
    # The training reward reads the same text as an empty answer.
    assert extract_answer("  B \n") == ""


# ---------------------------------------------------------------------------------------------
# One sample
# ---------------------------------------------------------------------------------------------

def test_multiple_choice_letter_match_and_mismatch():
    assert score_sample("<think>x</think><answer>B</answer>", "<answer>B</answer>", "multiple choice") == {
        "answer": "B", "score": 1.0, "correct": True}
    assert score_sample("<answer>C</answer>", "<answer>B</answer>", "multiple choice") == {
        "answer": "C", "score": 0.0, "correct": False}
    assert score_sample("<answer>B.</answer>", "<answer>B</answer>", "multiple choice")["score"] == 0.0
    # Whole-output fallback: a bare letter is right in evaluation (the reward would give 0).
    assert score_sample("B", "<answer>B</answer>", "multiple choice")["score"] == 1.0
    assert accuracy(extract_answer("B"), "B", "multiple choice") == 0.0


@pytest.mark.parametrize(("answer", "truth", "expected"), [
    ("1,000", "1,000", 1.0),
    ("1000", "1,000", 0.0),       # exactly one side has a separator
    ("1,000", "1000", 0.0),
    ("2", "2.0", 0.0),
    ("12.970", "12.97", 1.0),
    ("12.971", "12.97", 1.0),     # equal at 2 decimals
    ("12.98", "12.97", 0.0),
    ("1,234.5", "1234.50", 1.0),  # both have a separator; commas dropped
    ("twelve", "12", 0.0),
])
def test_numerical_follows_the_section_4_rule(answer, truth, expected):
    assert score_sample(f"<answer>{answer}</answer>", f"<answer>{truth}</answer>", "numerical")["score"] == expected


def test_ocr_uses_the_training_accuracy_rule():
    scored = score_sample("<answer>CAT</answer>", "<answer>CAT DOG</answer>", "OCR")
    assert scored == {"answer": "CAT", "score": EXACT(0.5), "correct": True}


def test_mra_thresholds_are_the_ten_two_decimal_values():
    assert MRA_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@pytest.mark.parametrize(("prediction", "truth", "expected"), [
    (100, 100, 1.0),
    (104, 100, 1.0),    # 4 % off passes every threshold (4 % < 5 %)
    (96, 100, 1.0),
    (1.05, 1.0, 0.9),   # exactly 5 % off fails θ = 0.95 (strict <)
    (130, 100, 0.4),    # 30 %: θ ∈ {0.50, 0.55, 0.60, 0.65}
    (70, 100, 0.4),
    (149, 100, 0.1),    # 49 %: only θ = 0.50
    (150, 100, 0.0),    # 50 %: fails θ = 0.50 too
    (160, 100, 0.0),
    (-12, -10, 0.6),    # |g| in the denominator
    (0, 0, 1.0),        # truth 0: only an exact 0 scores
    (0.1, 0, 0.0),
    (float("nan"), 1, 0.0),
])
def test_mean_relative_accuracy(prediction, truth, expected):
    assert mean_relative_accuracy(prediction, truth) == EXACT(expected)


@pytest.mark.parametrize("i", range(10))
def test_mra_at_and_just_inside_every_threshold(i):
    # |p − g|/g = 1 − θ_i exactly fails θ_i and every larger θ: i of 10 pass; 0.1 % inside passes θ_i too.
    margin = 50 - 5 * i  # 1 − θ_i in percent
    assert mean_relative_accuracy(100 + margin, 100) == EXACT(i / 10)
    assert mean_relative_accuracy(100 - margin, 100) == EXACT(i / 10)
    assert mean_relative_accuracy(100 + margin - 0.1, 100) == EXACT((i + 1) / 10)


def test_mra_compares_the_numbers_as_written_not_their_binary_noise():
    # 0.145 vs 0.1 is 45 % off: it fails θ = 0.55. In binary floating point the error comes out
    # 0.44999999999999984 and would pass it.
    assert abs(0.145 - 0.1) / 0.1 < 1 - 0.55
    assert mean_relative_accuracy(0.145, 0.1) == EXACT(0.1)


def test_regression_is_scored_by_mra_not_the_training_reward():
    scored = score_sample("<answer>130</answer>", "<answer>100</answer>", "regression")
    assert scored == {"answer": "130", "score": EXACT(0.4), "correct": False}
    assert accuracy("130", "100", "regression") == EXACT(0.7)  # the reward: 1 − relative error
    assert score_sample("<answer>1,000</answer>", "<answer>1000</answer>", "regression")["score"] == 1.0
    assert score_sample("<answer>118</answer>", "<answer>100</answer>", "regression") == {
        "answer": "118", "score": EXACT(0.7), "correct": True}
    assert score_sample("118", "<answer>100</answer>", "regression")["score"] == EXACT(0.7)  # no tag


@pytest.mark.parametrize("answer", ["about five", "", "nan", "inf", "5 m"])
def test_regression_with_no_number_scores_zero(answer):
    assert score_sample(f"<answer>{answer}</answer>", "<answer>5</answer>", "regression")["score"] == 0.0


def test_numerical_can_be_scored_by_mra():
    assert score_sample("<answer>3</answer>", "<answer>4</answer>", "numerical")["score"] == 0.0
    assert score_sample("<answer>3</answer>", "<answer>4</answer>", "numerical", numeric_scoring="mra") == {
        "answer": "3", "score": EXACT(0.5), "correct": True}
    with pytest.raises(ValueError, match="numeric_scoring 'exact'"):
        score_sample("3", "<answer>4</answer>", "numerical", numeric_scoring="exact")
    with pytest.raises(ValueError, match="unknown problem_type 'essay'"):
        score_sample("3", "<answer>4</answer>", "essay")


# ---------------------------------------------------------------------------------------------
# One benchmark
# ---------------------------------------------------------------------------------------------

def test_accuracy_counts_missing_and_failed_but_never_scores_them():
    rows = [row(1.0, "a"), row(0.0, "a"), row(1.0, "b"), row(1.0, None),
            row(None, "a", status="missing"), row(None, "b", status="failed"), row(None, status="failed")]
    assert benchmark_scores(rows, ACCURACY) == {
        "samples": 7, "scored": 4, "missing": 1, "failed": 2, "overall": 75.0,
        "tasks": {"a": 50.0, "b": 100.0}}


def test_graded_scores_average_as_they_are():
    rows = [row(0.5, "ocr", "OCR"), row(0.2, "ocr", "OCR"), row(1.0, "mc")]
    scores = benchmark_scores(rows, BENCHMARKS["synthetic"])
    assert scores["overall"] == 56.67
    assert scores["tasks"] == {"mc": 100.0, "ocr": 35.0}


@pytest.mark.parametrize("spec", list(BENCHMARKS.values()), ids=list(BENCHMARKS))
def test_nothing_scored_gives_none_not_zero(spec):
    for rows in ([], [row(None, "a", status="missing"), row(None, "a", status="failed")]):
        scores = benchmark_scores(rows, spec)
        assert scores["overall"] is None and scores["tasks"] == {}
        assert (scores["samples"], scores["scored"]) == (len(rows), 0)
        if spec.scoring == "vsi_bench":
            assert scores["overall_release"] is None and scores["overall_official"] is None


def test_bad_rows_are_refused():
    with pytest.raises(ValueError, match="status 'error'"):
        benchmark_scores([row(1.0, status="error")], ACCURACY)
    with pytest.raises(ValueError, match="status 'ok' needs a score"):
        benchmark_scores([row(None)], ACCURACY)
    with pytest.raises(ValueError, match="got 1.5"):
        benchmark_scores([row(1.5)], ACCURACY)


def test_mvbench_is_accuracy_over_what_loaded_with_the_missing_count():
    rows = [row(1.0), row(1.0), row(0.0), row(1.0), row(None, status="missing"), row(None, status="missing"),
            row(None, status="failed")]
    scores = benchmark_scores(rows, MVBENCH)
    assert scores == {"samples": 7, "scored": 4, "missing": 2, "failed": 1, "loaded": 5, "overall": 75.0,
                      "tasks": {}}
    # Not the release's rescaling (75 × 4000/3800 = 78.95), not missing-as-wrong (3/7 = 42.86).


def vsi_rows() -> list[dict]:
    reg, mc = "regression", "multiple choice"
    return [
        row(1.0, "object_counting", reg), row(0.5, "object_counting", reg),
        row(0.2, "object_abs_distance", reg),
        row(0.6, "object_size_estimation", reg),
        row(0.4, "room_size_estimation", reg),
        row(1.0, "object_rel_distance", mc), row(0.0, "object_rel_distance", mc),
        row(1.0, "object_rel_direction_easy", mc), row(1.0, "object_rel_direction_easy", mc),
        row(0.0, "object_rel_direction_medium", mc),
        row(1.0, "object_rel_direction_hard", mc), row(0.0, "object_rel_direction_hard", mc),
        row(1.0, "route_planning", mc), row(0.0, "route_planning", mc), row(0.0, "route_planning", mc),
        row(1.0, "obj_appearance_order", mc),
        row(None, "object_counting", reg, status="missing"), row(None, "route_planning", mc, status="failed"),
    ]


def test_vsi_bench_release_and_official_overalls_differ_on_the_same_rows():
    scores = benchmark_scores(vsi_rows(), VSI)
    # Release: accuracy over the 11 multiple-choice samples (6/11) and MRA over the 5 regression
    # samples (2.7/5), averaged: (0.545454… + 0.54) / 2.
    assert scores["release_accuracy"] == 54.55
    assert scores["release_mra"] == 54.0
    assert scores["overall_release"] == 54.27
    assert scores["overall"] == scores["overall_release"]
    # Official: the mean of the 8 task scores, relative direction = mean of its subsets.
    # (0.75 + 0.2 + 0.6 + 0.4 + 0.5 + 0.5 + 1/3 + 1) / 8
    assert scores["overall_official"] == 53.54
    assert scores["official_tasks"] == {
        "object_counting": 75.0, "object_abs_distance": 20.0, "object_size_estimation": 60.0,
        "room_size_estimation": 40.0, "object_rel_distance": 50.0, "object_rel_direction": 50.0,
        "route_planning": 33.33, "obj_appearance_order": 100.0}
    assert list(scores["official_tasks"]) == list(VSI_TASKS)
    assert (scores["samples"], scores["scored"], scores["missing"], scores["failed"]) == (18, 16, 1, 1)


def test_vsi_bench_direction_subsets_merge_by_their_mean_not_pooled():
    scores = benchmark_scores(vsi_rows(), VSI)
    # Subsets: easy 2/2, medium 0/1, hard 1/2 → mean(1, 0, 0.5) = 0.5; pooled would be 3/5 = 0.6.
    assert scores["tasks"]["object_rel_direction_easy"] == 100.0
    assert scores["tasks"]["object_rel_direction_medium"] == 0.0
    assert scores["tasks"]["object_rel_direction_hard"] == 50.0
    assert scores["official_tasks"]["object_rel_direction"] == 50.0
    assert "object_rel_direction" not in scores["tasks"]


def test_vsi_bench_release_puts_every_non_regression_sample_on_the_accuracy_side():
    rows = [row(1.0, "object_counting", "numerical"), row(0.0, "route_planning"),
            row(0.3, "room_size_estimation", "regression")]
    scores = benchmark_scores(rows, VSI)
    assert (scores["release_accuracy"], scores["release_mra"], scores["overall_release"]) == (50.0, 30.0, 40.0)
    # Official: counting 1.0, route 0.0, room size 0.3 over the 3 tasks present.
    assert scores["overall_official"] == 43.33


def test_vsi_bench_release_needs_both_sides():
    rows = [row(1.0, "route_planning"), row(0.0, "object_rel_direction_hard")]
    scores = benchmark_scores(rows, VSI)
    assert scores["overall_release"] is None and scores["overall"] is None
    assert scores["release_accuracy"] == 50.0 and scores["release_mra"] is None
    assert scores["overall_official"] == 50.0  # route 1.0, rel direction 0.0


# ---------------------------------------------------------------------------------------------
# Fixtures in each release file's schema
# ---------------------------------------------------------------------------------------------

EXPECTED_TASK_VALUES = {
    "vsi_bench": ("original_question_type", {"object_counting", "object_size_estimation", "room_size_estimation",
                                             "object_rel_direction_easy", "object_rel_direction_hard",
                                             "obj_appearance_order"}),
    "videommmu": ("original_question_type", {"multiple-choice", "open"}),
    "mmvu": ("original_question_type", {"multiple-choice"}),
    "mvbench": ("original_question_type", {""}),
    "tempcompass": ("dim", {"action", "direction", "speed", "order", "attribute_change"}),
    "videomme": ("duration", {"short", "medium", "long"}),
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("benchmarks")
    return {name: write_benchmark_fixture(name, folder) for name in BENCHMARKS}


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_fixture_loads_with_every_record_valid_and_one_missing_clip(fixtures, name):
    annotations, media_root = fixtures[name]
    valid, quarantine = load_annotation_file(annotations, name)
    assert quarantine == []
    expected = 6 if name == "synthetic" else len(RECORDS[name]())
    assert 4 <= len(valid) == expected <= 8
    missing = [r for r in valid if not (media_root / r["path"]).is_file()]
    assert len(missing) == 1
    if name != "synthetic":
        assert missing[0]["problem_id"] == str(MISSING_PROBLEM_ID[name])
        assert all(r["path"].startswith("Evaluation/") for r in valid)
    for path in {r["path"] for r in valid} - {missing[0]["path"]}:
        with av.open(str(media_root / path)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) >= NUM_FRAMES and max(frames[0].width, frames[0].height) <= 64


@pytest.mark.parametrize("name", [n for n in BENCHMARKS if n != "synthetic"])
def test_fixture_keeps_the_release_conventions_and_task_field(fixtures, name):
    annotations, _ = fixtures[name]
    raw = json.loads(annotations.read_text())
    assert annotations.name == BENCHMARKS[name].eval_file
    for record in raw:
        assert record["path"].startswith("./Evaluation/")
        assert record["solution"] == f"<answer>{extract_answer(record['solution'])}</answer>"
        assert isinstance(record["problem_id"], int)
        if record["problem_type"] == "multiple choice":
            assert all(option[:3] == f"{letter}. " for letter, option in zip("ABCDEFGHIJ", record["options"]))
        else:
            assert record["options"] is None
    field, values = EXPECTED_TASK_VALUES[name]
    valid, _ = load_annotation_file(annotations, name)
    extras = [json.loads(r["extra"]) for r in valid]
    assert {extra[field] for extra in extras} == values
    assert field in BENCHMARKS[name].task_fields


def test_vsi_bench_fixture_marks_every_numeric_task_regression(fixtures):
    raw = json.loads(fixtures["vsi_bench"][0].read_text())
    numeric = {"object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation"}
    for record in raw:
        expected = "regression" if record["original_question_type"] in numeric else "multiple choice"
        assert record["problem_type"] == expected


def test_synthetic_fixture_breaks_down_by_scene(fixtures):
    valid, _ = load_annotation_file(fixtures["synthetic"][0], "synthetic")
    assert BENCHMARKS["synthetic"].task_fields == ("data_source",)
    assert sorted(r["data_source"] for r in valid) == sorted(f"synthetic/{scene}" for scene in SyntheticConfig().scenes)
