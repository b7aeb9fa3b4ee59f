"""The leaderboard: every (model, benchmark) score shard, queried with DuckDB, laid out like the
paper's Table 1 — one row per model, one column per benchmark (clean accuracy, %) — followed by
the robustness columns of each benchmark that ran them: blind (uniform frames of the clip's
shape) and no video (the media removed), visual reliance (clean − blind) and its no-video twin,
transformed, pretext accuracy, format compliance (the % of answers in the asked format: clean,
blind, no video) and frame drop. A benchmark where some model had generation failures also gets a
``<title> failed`` column (the clean condition's failed samples, ``samples/failed``), which the
markdown shows beside the score it qualifies: ``63.2 (2 failed)``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import polars as pl

from viss_r1.evaluate.benchmarks import BENCHMARKS

# (metric name in the score shards, column suffix); the clean score is the benchmark's own column.
ROBUSTNESS_COLUMNS = (
    ("score/blind", "blind"),
    ("score/no_video", "no video"),
    ("visual_reliance", "visual reliance"),
    ("visual_reliance/no_video", "visual reliance (no video)"),
    ("score/transformed", "transformed"),
    ("pretext_accuracy/all", "pretext acc."),
    ("format/clean", "format"),              # the clean condition's, as the benchmark's own column is
    ("format/blind", "blind format"),
    ("format/no_video", "no video format"),
)
# The columns the console's table shows beside each clean score (the markdown and the UI show all).
CONSOLE_COLUMNS = ("blind", "visual reliance", "transformed", "pretext acc.", "format")
# The probes the chart draws beside each clean bar: (column suffix, hatch).
CHART_PROBES = (("blind", "//"), ("no video", ".."))
FRAME_DROP_PREFIX = "score/frame_drop_"
FAILED_METRIC = "samples/failed"   # the clean condition's failed samples (viss_r1.evaluate.scores)
FAILED = "failed"                  # its column: "<title> failed"
NOT_RUN = "–"


def collect_scores(shards: Sequence[Path]) -> pl.DataFrame:
    """All score shards as one long table (model, reference, benchmark, metric, value)."""
    import duckdb

    if not shards:
        return pl.DataFrame(schema={"model": pl.String, "reference": pl.String, "benchmark": pl.String,
                                    "metric": pl.String, "value": pl.Float64})
    files = ", ".join(f"'{Path(p).as_posix()}'" for p in shards)
    return duckdb.sql(f"SELECT model, reference, benchmark, metric, value FROM read_parquet([{files}]) "
                      "ORDER BY model, benchmark, metric").pl()


def leaderboard_table(scores: pl.DataFrame, model_order: Sequence[str]) -> pl.DataFrame:
    """Wide table: ``model`` + one column per benchmark title (every benchmark of the registry,
    run or not, in Table 1 order) + robustness columns where some model ran them + a failed-count
    column where some model had failures. Missing cells are null."""
    order = {name: i for i, name in enumerate(model_order)}
    models = sorted(set(scores["model"].to_list()), key=lambda m: (order.get(m, len(order)), m))
    value = {(r["model"], r["benchmark"], r["metric"]): r["value"] for r in scores.iter_rows(named=True)}
    ran = {(r["benchmark"], r["metric"]) for r in scores.iter_rows(named=True)}
    columns: list[tuple[str, str, str]] = [(spec.title, spec.name, "score/overall") for spec in BENCHMARKS.values()]
    failing = {r["benchmark"] for r in scores.iter_rows(named=True) if r["metric"] == FAILED_METRIC and r["value"]}
    for spec in BENCHMARKS.values():
        metrics = [(FAILED_METRIC, FAILED)] if spec.name in failing else []
        metrics += [(m, suffix) for m, suffix in ROBUSTNESS_COLUMNS if (spec.name, m) in ran]
        drops = sorted(m for b, m in ran if b == spec.name and m.startswith(FRAME_DROP_PREFIX))
        metrics += [(m, f"drop {float(m.removeprefix(FRAME_DROP_PREFIX)):.0%}") for m in drops]
        columns += [(f"{spec.title} {suffix}", spec.name, m) for m, suffix in metrics]
    rows = [{"model": model, **{title: value.get((model, bench, metric)) for title, bench, metric in columns}}
            for model in models]
    schema = {"model": pl.String, **{title: pl.Float64 for title, _, _ in columns}}
    return pl.DataFrame(rows, schema=schema)


def to_markdown(table: pl.DataFrame) -> str:
    """The table as markdown (the Dagster UI renders it); not-run cells as a dash, a failed count
    beside the score it belongs to rather than in a column of its own."""
    if table.is_empty():
        return "_(no model has been evaluated yet)_"
    counts = {f"{c} {FAILED}" for c in table.columns}   # shown inside their score's cell
    shown = [c for c in table.columns[1:] if c not in counts]
    lines = ["| " + " | ".join([table.columns[0], *shown]) + " |", "|" + "---|" * (len(shown) + 1)]
    for row in table.iter_rows(named=True):
        cells = [row[table.columns[0]]]
        for column in shown:
            value, failed = row[column], row.get(f"{column} {FAILED}")
            cells.append((NOT_RUN if value is None else f"{value:.1f}") + (f" ({failed:.0f} failed)" if failed else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_console(table: pl.DataFrame) -> str:
    """The table in plain text for a terminal, narrower than the markdown: for each benchmark that
    ran, its clean score (a failed count beside it) and the ``CONSOLE_COLUMNS`` it has, headed by
    the column suffix alone when a single benchmark ran."""
    if table.is_empty():
        return "(no model has been evaluated yet)"
    ran = [s.title for s in BENCHMARKS.values() if s.title in table.columns and table[s.title].drop_nulls().len()]
    columns: list[tuple[str, str]] = []   # (header, column)
    for title in ran:
        columns.append((title, title))
        columns += [(suffix if len(ran) == 1 else f"{title} {suffix}", f"{title} {suffix}")
                    for suffix in CONSOLE_COLUMNS if f"{title} {suffix}" in table.columns]

    def cell(row: dict, column: str) -> str:
        value, failed = row[column], row.get(f"{column} {FAILED}")
        return (NOT_RUN if value is None else f"{value:.1f}") + (f" ({failed:.0f} failed)" if failed else "")

    rows = [["model", *(header for header, _ in columns)]]
    rows += [[row["model"], *(cell(row, column) for _, column in columns)] for row in table.iter_rows(named=True)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(text.ljust(width) if i == 0 else text.rjust(width)
                               for i, (text, width) in enumerate(zip(r, widths))) for r in rows)


def chart(table: pl.DataFrame, path: Path) -> Path:
    """Grouped bars: each model's clean score on each benchmark that ran, with its blind and
    no-video scores as hatched bars beside it where those probes ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = [s.title for s in BENCHMARKS.values() if s.title in table.columns and table[s.title].drop_nulls().len()]
    models = table["model"].to_list()
    bars = 1 + len(CHART_PROBES)   # per model and benchmark: clean, then each probe
    legend_width = 2.2   # inches beside the axes
    fig, ax = plt.subplots(figsize=(max(4.0, 1.8 * len(titles) * max(1, len(models)) / 2) + legend_width, 3.2),
                           dpi=110)
    width = 0.8 / max(1, bars * len(models))
    for m, model in enumerate(models):
        row = table.row(m, named=True)
        for b, title in enumerate(titles):
            x = b + (bars * m) * width
            ax.bar(x, row[title] or 0.0, width, color=f"C{m}", label=model if b == 0 else None)
            for p, (probe, hatch) in enumerate(CHART_PROBES, start=1):
                value = row.get(f"{title} {probe}")
                if value is not None:
                    ax.bar(x + p * width, value, width, color=f"C{m}", alpha=0.4, hatch=hatch,
                           label=f"{model} ({probe})" if b == 0 else None)
    ax.set_xticks([b + 0.4 - width / 2 for b in range(len(titles))], titles)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))   # beside, not over, the bars
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
