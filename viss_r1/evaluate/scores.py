"""Per-condition scores of one (model, benchmark) and their stable metric names.

Names are the same for every model and benchmark (``score/overall``, ``score/blind``,
``visual_reliance``, ``pretext_accuracy/arrow``…), so MLflow's compare view lines the arms up.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterable, Mapping

from viss_r1.evaluate.benchmarks import BenchmarkSpec
from viss_r1.evaluate.metrics import benchmark_scores


def pretext_accuracy(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Percent of ``<transform>`` letters right, per transform and overall, over scored rows."""
    by_transform: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        if row["status"] == "ok" and row["transform"] is not None:
            by_transform[row["transform"]].append(bool(row["transform_correct"]))
    found = {name: round(100.0 * sum(v) / len(v), 2) for name, v in sorted(by_transform.items())}
    every = [hit for v in by_transform.values() for hit in v]
    if every:
        found["all"] = round(100.0 * sum(every) / len(every), 2)
    return found


def summarize(rows: list[Mapping[str, Any]], spec: BenchmarkSpec) -> dict[str, Any]:
    """``{"conditions": {name: benchmark scores}, "pretext_accuracy": …, "visual_reliance": …}``."""
    by_condition: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_condition[row["condition"]].append(row)
    summary: dict[str, Any] = {"conditions": {name: benchmark_scores(list(group), spec)
                                              for name, group in sorted(by_condition.items())}}
    if "transformed" in by_condition:
        summary["pretext_accuracy"] = pretext_accuracy(by_condition["transformed"])
    clean, blind = summary["conditions"].get("clean", {}), summary["conditions"].get("blind", {})
    if clean.get("overall") is not None and blind.get("overall") is not None:
        summary["visual_reliance"] = round(clean["overall"] - blind["overall"], 2)
    return summary


def metric_name(text: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces; task labels may hold more."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)


def score_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Flat, stable metric names: the clean overall and its variants, each probe's overall, the
    per-task clean scores, pretext accuracy, visual reliance and the sample counts."""
    metrics: dict[str, float] = {}
    for condition, scores in summary["conditions"].items():
        prefix = "score/overall" if condition == "clean" else f"score/{condition}"
        if scores.get("overall") is not None:
            metrics[prefix] = scores["overall"]
        if condition == "clean":
            for variant in ("overall_release", "overall_official"):
                if scores.get(variant) is not None:
                    metrics[f"score/{variant}"] = scores[variant]
            for task, value in (scores.get("tasks") or {}).items():
                if value is not None:
                    metrics[metric_name(f"task/{task}")] = value
            for count in ("samples", "scored", "missing", "failed"):
                metrics[f"samples/{count}"] = scores[count]
    for transform, value in (summary.get("pretext_accuracy") or {}).items():
        metrics[f"pretext_accuracy/{transform}"] = value
    if summary.get("visual_reliance") is not None:
        metrics["visual_reliance"] = summary["visual_reliance"]
    return metrics
