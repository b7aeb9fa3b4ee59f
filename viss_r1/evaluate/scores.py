"""Per-condition scores of one (model, benchmark) and their stable metric names.

Names are the same for every model and benchmark (``score/overall``, ``score/blind``,
``score/no_video``, ``visual_reliance``, ``visual_reliance/no_video``, ``format/clean``,
``format/blind``, ``pretext_accuracy/arrow``…), so MLflow's compare view lines the arms up.

Visual reliance is clean − blind: the blind frames keep the clip's shape, so the gap is what the
pixels are worth. clean − no_video is reported beside it, and each condition's format compliance
(the percentage of answers in the format its prompt asked for) tells a model that knows less
without the video from one whose answers merely stop parsing.
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


def format_compliance(rows: Iterable[Mapping[str, Any]]) -> float | None:
    """Percent of scored rows whose output follows the format asked (``follows_format``); None
    when nothing was scored. Missing and failed rows have no output, so they do not count."""
    followed = [bool(row["follows_format"]) for row in rows if row["status"] == "ok"]
    return round(100.0 * sum(followed) / len(followed), 2) if followed else None


def _gap(conditions: Mapping[str, Mapping[str, Any]], probe: str) -> float | None:
    """clean − ``probe`` overall, where both were scored."""
    clean, other = conditions.get("clean", {}).get("overall"), conditions.get(probe, {}).get("overall")
    return None if clean is None or other is None else round(clean - other, 2)


def summarize(rows: list[Mapping[str, Any]], spec: BenchmarkSpec) -> dict[str, Any]:
    """``{"conditions": {name: benchmark scores}, "format": {name: compliance %},
    "pretext_accuracy": …, "visual_reliance": clean − blind, "visual_reliance_no_video": clean − no_video}``."""
    by_condition: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_condition[row["condition"]].append(row)
    groups = sorted(by_condition.items())
    summary: dict[str, Any] = {"conditions": {name: benchmark_scores(list(group), spec) for name, group in groups},
                               "format": {name: format_compliance(group) for name, group in groups}}
    if "transformed" in by_condition:
        summary["pretext_accuracy"] = pretext_accuracy(by_condition["transformed"])
    for key, probe in (("visual_reliance", "blind"), ("visual_reliance_no_video", "no_video")):
        gap = _gap(summary["conditions"], probe)
        if gap is not None:
            summary[key] = gap
    return summary


def metric_name(text: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces; task labels may hold more."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)


def score_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Flat, stable metric names: the clean overall and its variants, each probe's overall, the
    per-task clean scores, each condition's format compliance (``format/<condition>``), pretext
    accuracy, visual reliance (clean − blind; ``visual_reliance/no_video``: clean − no_video) and
    the sample counts."""
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
    for condition, value in (summary.get("format") or {}).items():
        if value is not None:
            metrics[f"format/{condition}"] = value
    for transform, value in (summary.get("pretext_accuracy") or {}).items():
        metrics[f"pretext_accuracy/{transform}"] = value
    for key, name in (("visual_reliance", "visual_reliance"), ("visual_reliance_no_video", "visual_reliance/no_video")):
        if summary.get(key) is not None:
            metrics[name] = summary[key]
    return metrics
