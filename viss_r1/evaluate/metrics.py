"""Evaluation scores (METHOD.md §8): one sample's score, then a benchmark's.

    scored = score_sample(completion, record["solution"], record["problem_type"])
    scores = benchmark_scores(rows, BENCHMARKS["vsi_bench"])   # rows: problem_type, task, status, score

Where evaluation differs from the training reward, on purpose: an output without an ``<answer>``
tag is scored as a whole (the reward gives it an empty answer), and regression is scored by mean
relative accuracy (MRA), not by 1 − relative error. Failed and missing samples are counted and
reported, never scored as wrong answers (the release scored a failed batch as 64 wrong answers).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, Mapping, Sequence

# The rewards' answer pattern and number parse, so training and evaluation read the same span and
# the same number ("1,000" → 1000; "nan"/"inf" unparsable).
from viss_r1.answers import ANSWER_PATTERN, extract_answer, parse_number
from viss_r1.evaluate.benchmarks import BenchmarkSpec
from viss_r1.rewards import accuracy

# θ ∈ {0.50, 0.55, …, 0.95}; rounded so each prints as its two-decimal value (0.5 + 0.05·3 is
# 0.6500000000000001 in binary floating point).
MRA_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
NUMERIC_SCORINGS = ("accuracy", "mra")
STATUSES = ("ok", "missing", "failed")

# VSI-Bench's official tasks (vision-x-nyu/thinking-in-space, lmms_eval/tasks/vsibench/utils.py):
# numeric answers by MRA, the others by accuracy; the three relative-direction subsets count as
# one task, the mean of their scores; the official overall is the mean of the eight task scores.
VSI_NUMERIC_TASKS = ("object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation")
VSI_CHOICE_TASKS = ("object_rel_distance", "object_rel_direction", "route_planning", "obj_appearance_order")
VSI_TASKS = VSI_NUMERIC_TASKS + VSI_CHOICE_TASKS
VSI_DIRECTION_SUBSETS = tuple(f"object_rel_direction_{level}" for level in ("easy", "medium", "hard"))


# ---------------------------------------------------------------------------------------------
# One sample
# ---------------------------------------------------------------------------------------------

def parse_prediction(text: str | None) -> str:
    """The content of the first ``<answer>…</answer>``, stripped; the whole output, stripped, when
    there is no answer tag (an empty tag is an empty answer)."""
    text = text or ""
    match = ANSWER_PATTERN.search(text)
    return match.group(1).strip() if match else text.strip()


def _exact(value: float) -> Decimal:
    # The shortest decimal that round-trips the float: the number as written ("1.05"), so a 5 %
    # error is exactly 5 % and not 5.000000000000004 %.
    return Decimal(repr(float(value)))


def mean_relative_accuracy(prediction: float, truth: float) -> float:
    """Mean over θ ∈ {0.50, 0.55, …, 0.95} of 1[|p − g| / |g| < 1 − θ], compared in exact decimal
    arithmetic: an error that equals a threshold fails it (strict <, as the release). A truth of 0
    has no relative error: only an exact 0 scores (1.0). Non-finite values score 0.0."""
    p, g = _exact(prediction), _exact(truth)
    if not (p.is_finite() and g.is_finite()):
        return 0.0
    if g == 0:
        return 1.0 if p == 0 else 0.0
    error, scale = abs(p - g), abs(g)
    passed = sum(error < (1 - _exact(theta)) * scale for theta in MRA_THRESHOLDS)
    return passed / len(MRA_THRESHOLDS)


def score_sample(text: str | None, solution: str, problem_type: str, *,
                 numeric_scoring: str = "accuracy") -> dict[str, Any]:
    """``{"answer", "score", "correct"}`` for one model output.

    ``score`` ∈ [0, 1]: regression by MRA on the parsed numbers; multiple choice, numerical, OCR and
    free-form by the §4 accuracy rules (``viss_r1.rewards.accuracy``) on the parsed answer and the
    solution's answer. ``numeric_scoring="mra"`` scores numerical answers by MRA as well (VSI-Bench's
    own protocol for its numeric tasks, for files that mark them numerical). An unparsable number
    scores 0. ``correct`` is ``score >= 0.5``: exact match for the binary types; for graded ones a
    half-right answer (MRA 0.5 ≈ within 25–30 % of the truth). The release counts only 1.0 as
    correct; scores never use this flag."""
    if numeric_scoring not in NUMERIC_SCORINGS:
        raise ValueError(f"numeric_scoring {numeric_scoring!r} is not one of {NUMERIC_SCORINGS}")
    answer, truth = parse_prediction(text), extract_answer(solution)
    if problem_type == "regression" or (problem_type == "numerical" and numeric_scoring == "mra"):
        predicted, expected = parse_number(answer), parse_number(truth)
        score = 0.0 if predicted is None or expected is None else mean_relative_accuracy(predicted, expected)
    else:
        score = accuracy(answer, truth, problem_type)  # raises on an unknown problem type
    return {"answer": answer, "score": float(score), "correct": score >= 0.5}


# ---------------------------------------------------------------------------------------------
# One benchmark
# ---------------------------------------------------------------------------------------------

def _percent(values: Sequence[float]) -> float | None:
    return round(100.0 * sum(values) / len(values), 2) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _scored_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], dict[str, int]]:
    counts = {status: 0 for status in STATUSES}
    scored = []
    for index, row in enumerate(rows):
        status = row.get("status")
        if status not in STATUSES:
            raise ValueError(f"result row {index}: status {status!r} is not one of {STATUSES}")
        counts[status] += 1
        if status == "ok":
            score = row.get("score")
            if score is None or not 0.0 <= score <= 1.0:
                raise ValueError(f"result row {index}: status 'ok' needs a score in [0, 1], got {score!r}")
            scored.append(row)
    return scored, counts


def _by_task(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("task") not in (None, ""):
            grouped[str(row["task"])].append(float(row["score"]))
    return dict(sorted(grouped.items()))


def _vsi_bench(rows: Sequence[Mapping[str, Any]], tasks: Mapping[str, list[float]]) -> dict[str, Any]:
    # Release: accuracy over every sample that is not regression, MRA over regression samples, and
    # their mean (undefined here when either side is empty; the release would average in a 0).
    choice = [float(r["score"]) for r in rows if r["problem_type"] != "regression"]
    numeric = [float(r["score"]) for r in rows if r["problem_type"] == "regression"]
    release = None if not choice or not numeric else (_mean(choice) + _mean(numeric)) / 2
    # Official: the eight task means; relative direction is the mean of the subsets present (the
    # official code divides by 3 even when a subset is absent, which only differs on a partial run).
    task_means = {task: _mean(scores) for task, scores in tasks.items()}
    directions = [task_means[s] for s in VSI_DIRECTION_SUBSETS if s in task_means]
    if "object_rel_direction" in task_means:  # a file that already merged the subsets
        directions.append(task_means["object_rel_direction"])
    official_tasks = {task: task_means.get(task) for task in VSI_TASKS}
    official_tasks["object_rel_direction"] = _mean(directions)
    present = [value for value in official_tasks.values() if value is not None]
    official = _mean(present)
    return {
        # The paper's Table 1 reports the release's number, so it is the headline `overall`.
        "overall": None if release is None else round(100.0 * release, 2),
        "overall_release": None if release is None else round(100.0 * release, 2),
        "overall_official": None if official is None else round(100.0 * official, 2),
        "release_accuracy": _percent(choice),
        "release_mra": _percent(numeric),
        "official_tasks": {task: None if value is None else round(100.0 * value, 2)
                           for task, value in official_tasks.items()},
    }


def benchmark_scores(rows: Sequence[Mapping[str, Any]], spec: BenchmarkSpec) -> dict[str, Any]:
    """Scores in percent (2 decimals) over the rows whose status is ``ok``; ``missing`` (media that
    would not load) and ``failed`` (generation errors) rows are counted, never scored.

    Always: ``samples, scored, missing, failed, overall, tasks`` (per-task mean score). ``overall``
    is None when nothing was scored. ``vsi_bench`` adds ``overall_release`` (the headline
    ``overall``), ``overall_official``, ``release_accuracy``, ``release_mra`` and
    ``official_tasks``; ``mvbench`` adds ``loaded``."""
    scored, counts = _scored_rows(rows)
    tasks = _by_task(scored)
    result: dict[str, Any] = {
        "samples": len(rows),
        "scored": counts["ok"],
        "missing": counts["missing"],
        "failed": counts["failed"],
        "overall": _percent([float(r["score"]) for r in scored]),
        "tasks": {task: _percent(scores) for task, scores in tasks.items()},
    }
    if spec.scoring == "vsi_bench":
        result.update(_vsi_bench(scored, tasks))
    elif spec.scoring == "mvbench":
        # Accuracy over the videos that loaded, with the missing count beside it. The release's
        # × 4000/3800 assumes exactly 200 missing videos scored as wrong; we do not rescale.
        result["loaded"] = len(rows) - counts["missing"]
    return result
