"""The leaderboard from hand-made score shards: DuckDB reads them all, rows follow the arms'
order, every benchmark has its column (a dash where it did not run), robustness columns appear
where a probe ran; and the per-condition summary behind the shards."""

from __future__ import annotations

import polars as pl

from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.leaderboard import chart, collect_scores, leaderboard_table, to_markdown
from viss_r1.evaluate.scores import score_metrics, summarize


def shard(path, model, benchmark, metrics: dict) -> str:
    pl.DataFrame([{"model": model, "reference": f"/ckpt/{model}", "benchmark": benchmark, "metric": m, "value": v}
                  for m, v in metrics.items()]).write_parquet(path)
    return path


def test_leaderboard_lays_out_models_by_benchmarks_with_robustness_columns(tmp_path):
    shards = [
        shard(tmp_path / "a.parquet", "viss_r1_model", "synthetic",
              {"score/overall": 40.0, "score/blind": 25.0, "visual_reliance": 15.0, "pretext_accuracy/all": 90.0,
               "score/frame_drop_0.50": 35.0}),
        shard(tmp_path / "b.parquet", "base_model", "synthetic", {"score/overall": 20.0, "score/blind": 19.0}),
        shard(tmp_path / "c.parquet", "base_model", "vsi_bench", {"score/overall": 30.1}),
    ]
    scores = collect_scores(shards)
    assert len(scores) == 8
    table = leaderboard_table(scores, ("base_model", "sft_model", "viss_r1_model"))
    assert table["model"].to_list() == ["base_model", "viss_r1_model"]
    titles = [spec.title for spec in BENCHMARKS.values()]
    assert table.columns[1:len(titles) + 1] == titles
    assert table.columns[len(titles) + 1:] == ["Synthetic blind", "Synthetic visual reliance", "Synthetic pretext acc.",
                                               "Synthetic drop 50%"]
    assert table.row(0, named=True)["VSI-Bench"] == 30.1 and table.row(1, named=True)["VSI-Bench"] is None
    assert table.row(1, named=True)["Synthetic drop 50%"] == 35.0

    markdown = to_markdown(table).splitlines()
    assert markdown[0].startswith("| model | VSI-Bench | VideoMMMU |")
    assert markdown[2] == "| base_model | 30.1 | – | – | – | – | – | 20.0 | 19.0 | – | – | – |"
    assert chart(table, tmp_path / "chart.png").stat().st_size > 1000


def test_an_empty_leaderboard_says_so():
    table = leaderboard_table(collect_scores([]), ("base_model",))
    assert table.is_empty() and "no model" in to_markdown(table)


def row(condition, score, status="ok", task="t1", transform=None, correct=None):
    return {"condition": condition, "problem_type": "multiple choice", "task": task, "status": status,
            "score": score if status == "ok" else None, "transform": transform, "transform_correct": correct}


def test_summary_gives_each_condition_visual_reliance_and_pretext_accuracy():
    rows = ([row("clean", 1.0), row("clean", 1.0), row("clean", 0.0), row("clean", None, status="missing")]
            + [row("blind", 1.0), row("blind", 0.0), row("blind", 0.0), row("blind", None, status="missing")]
            + [row("transformed", 1.0, transform="arrow", correct=True),
               row("transformed", 0.0, transform="arrow", correct=False),
               row("transformed", 0.0, transform="rotate", correct=True),
               row("transformed", None, status="failed", transform="rotate")])
    summary = summarize(rows, BENCHMARKS["synthetic"])
    assert summary["conditions"]["clean"]["overall"] == 66.67 and summary["conditions"]["clean"]["missing"] == 1
    assert summary["visual_reliance"] == round(66.67 - 33.33, 2)
    assert summary["pretext_accuracy"] == {"arrow": 50.0, "rotate": 100.0, "all": 66.67}
    metrics = score_metrics(summary)
    assert metrics["score/overall"] == 66.67 and metrics["score/blind"] == 33.33
    assert metrics["score/transformed"] == 33.33 and metrics["pretext_accuracy/rotate"] == 100.0
    assert (metrics["samples/scored"], metrics["samples/missing"], metrics["task/t1"]) == (3, 1, 66.67)
