"""The leaderboard from hand-made score shards: DuckDB reads them all, rows follow the arms'
order, every benchmark has its column (a dash where it did not run), robustness columns appear
where a probe ran; and the per-condition summary behind the shards."""

from __future__ import annotations

import polars as pl

from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.leaderboard import chart, collect_scores, leaderboard_table, to_console, to_markdown
from viss_r1.evaluate.scores import score_metrics, summarize


def shard(path, model, benchmark, metrics: dict) -> str:
    pl.DataFrame([{"model": model, "reference": f"/ckpt/{model}", "benchmark": benchmark, "metric": m, "value": v}
                  for m, v in metrics.items()]).write_parquet(path)
    return path


def test_leaderboard_lays_out_models_by_benchmarks_with_robustness_columns(tmp_path):
    shards = [
        shard(tmp_path / "a.parquet", "viss_r1_model", "synthetic",
              {"score/overall": 40.0, "score/blind": 25.0, "score/no_video": 5.0, "visual_reliance": 15.0,
               "visual_reliance/no_video": 35.0, "pretext_accuracy/all": 90.0, "format/clean": 100.0,
               "format/blind": 95.0, "format/no_video": 10.0, "score/frame_drop_0.50": 35.0}),
        shard(tmp_path / "b.parquet", "base_model", "synthetic", {"score/overall": 20.0, "score/blind": 19.0}),
        shard(tmp_path / "c.parquet", "base_model", "vsi_bench", {"score/overall": 30.1}),
    ]
    scores = collect_scores(shards)
    assert len(scores) == 13
    table = leaderboard_table(scores, ("base_model", "sft_model", "viss_r1_model"))
    assert table["model"].to_list() == ["base_model", "viss_r1_model"]
    titles = [spec.title for spec in BENCHMARKS.values()]
    assert table.columns[1:len(titles) + 1] == titles
    assert table.columns[len(titles) + 1:] == [
        "Synthetic blind", "Synthetic no video", "Synthetic visual reliance", "Synthetic visual reliance (no video)",
        "Synthetic pretext acc.", "Synthetic format", "Synthetic blind format", "Synthetic no video format",
        "Synthetic drop 50%"]
    assert table.row(0, named=True)["VSI-Bench"] == 30.1 and table.row(1, named=True)["VSI-Bench"] is None
    viss_r1 = table.row(1, named=True)
    assert viss_r1["Synthetic drop 50%"] == 35.0
    assert (viss_r1["Synthetic visual reliance"], viss_r1["Synthetic visual reliance (no video)"]) == (15.0, 35.0)
    assert (viss_r1["Synthetic format"], viss_r1["Synthetic blind format"], viss_r1["Synthetic no video format"]) \
        == (100.0, 95.0, 10.0)

    markdown = to_markdown(table).splitlines()
    assert markdown[0].startswith("| model | VSI-Bench | VideoMMMU |")
    assert markdown[2] == "| base_model | 30.1 | – | – | – | – | – | 20.0 | 19.0 | – | – | – | – | – | – | – | – |"
    assert chart(table, tmp_path / "chart.png").stat().st_size > 1000


def test_the_console_table_shows_what_ran_in_aligned_columns(tmp_path):
    shards = [
        shard(tmp_path / "a.parquet", "viss_r1_model", "synthetic",
              {"score/overall": 40.0, "score/blind": 25.0, "visual_reliance": 15.0, "format/clean": 100.0,
               "score/no_video": 5.0, "samples/failed": 2.0}),
        shard(tmp_path / "b.parquet", "base_model", "synthetic", {"score/overall": 0.0, "score/blind": 0.0}),
    ]
    table = leaderboard_table(collect_scores(shards), ("base_model", "viss_r1_model"))
    # one benchmark ran: its columns are headed by their suffix; the six not configured and the
    # columns beyond CONSOLE_COLUMNS (no video) are left out
    assert to_console(table).splitlines() == [
        "model                Synthetic  blind  visual reliance  format",
        "base_model                 0.0    0.0                –       –",
        "viss_r1_model  40.0 (2 failed)   25.0             15.0   100.0",
    ]
    two = leaderboard_table(collect_scores([*shards, shard(tmp_path / "c.parquet", "base_model", "vsi_bench",
                                                               {"score/overall": 30.1})]), ("base_model",))
    header = to_console(two).splitlines()[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == ["model", "VSI-Bench", "Synthetic", "Synthetic blind",
                                                         "Synthetic visual reliance", "Synthetic format"]


def test_an_empty_leaderboard_says_so():
    table = leaderboard_table(collect_scores([]), ("base_model",))
    assert table.is_empty() and "no model" in to_markdown(table) and "no model" in to_console(table)


def row(condition, score, status="ok", task="t1", transform=None, correct=None, in_format=True):
    return {"condition": condition, "problem_type": "multiple choice", "task": task, "status": status,
            "score": score if status == "ok" else None, "transform": transform, "transform_correct": correct,
            "follows_format": in_format if status == "ok" else None}


def test_summary_gives_each_condition_visual_reliance_and_pretext_accuracy():
    rows = ([row("clean", 1.0), row("clean", 1.0), row("clean", 0.0), row("clean", None, status="missing")]
            + [row("blind", 1.0), row("blind", 0.0), row("blind", 0.0, in_format=False),
               row("blind", None, status="missing")]
            + [row("no_video", 0.0, in_format=False), row("no_video", 0.0, in_format=False), row("no_video", 0.0)]
            + [row("transformed", 1.0, transform="arrow", correct=True),
               row("transformed", 0.0, transform="arrow", correct=False),
               row("transformed", 0.0, transform="rotate", correct=True),
               row("transformed", None, status="failed", transform="rotate")])
    summary = summarize(rows, BENCHMARKS["synthetic"])
    assert summary["conditions"]["clean"]["overall"] == 66.67 and summary["conditions"]["clean"]["missing"] == 1
    # visual reliance is clean − blind (the shape-keeping probe), not clean − no_video
    assert summary["visual_reliance"] == round(66.67 - 33.33, 2) == 33.34
    assert summary["visual_reliance_no_video"] == 66.67
    assert summary["pretext_accuracy"] == {"arrow": 50.0, "rotate": 100.0, "all": 66.67}
    assert summary["format"] == {"blind": 66.67, "clean": 100.0, "no_video": 33.33, "transformed": 100.0}
    metrics = score_metrics(summary)
    assert metrics["score/overall"] == 66.67 and metrics["score/blind"] == 33.33 and metrics["score/no_video"] == 0.0
    assert metrics["score/transformed"] == 33.33 and metrics["pretext_accuracy/rotate"] == 100.0
    assert (metrics["visual_reliance"], metrics["visual_reliance/no_video"]) == (33.34, 66.67)
    assert (metrics["format/clean"], metrics["format/blind"], metrics["format/no_video"]) == (100.0, 66.67, 33.33)
    assert (metrics["samples/scored"], metrics["samples/missing"], metrics["task/t1"]) == (3, 1, 66.67)


def test_visual_reliance_waits_for_both_of_its_conditions():
    summary = summarize([row("clean", 1.0), row("no_video", 0.0)], BENCHMARKS["synthetic"])
    assert "visual_reliance" not in summary and summary["visual_reliance_no_video"] == 100.0
    assert "visual_reliance" not in score_metrics(summary)
