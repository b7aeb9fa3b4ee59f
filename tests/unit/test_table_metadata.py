"""Previews, quarantine lists, curves and the leaderboard reach the Dagster UI as its own table
metadata (a typed schema it can sort and render), not as hand-built markdown."""

from __future__ import annotations

import polars as pl

from assets.caching import table_preview
from assets.models import curve_table


def test_a_preview_keeps_each_column_s_type_and_shows_other_values_as_text():
    table = table_preview(pl.DataFrame({"clip": ["a|b", "c\nd"], "frames": [16, 8], "fps": [4.0, None],
                                        "ok": [True, False], "indices": [[0, 2], [1]]}))
    assert [(c.name, c.type) for c in table.schema.columns] == [
        ("clip", "string"), ("frames", "int"), ("fps", "float"), ("ok", "bool"), ("indices", "string")]
    assert [r.data for r in table.records] == [
        {"clip": "a|b", "frames": 16, "fps": 4.0, "ok": True, "indices": "[0, 2]"},
        {"clip": "c d", "frames": 8, "fps": None, "ok": False, "indices": "[1]"}]


def test_a_preview_is_cut_to_its_limit_and_an_empty_frame_keeps_its_columns():
    assert len(table_preview([{"i": i} for i in range(30)], limit=10).records) == 10
    empty = table_preview(pl.DataFrame(schema={"path": pl.String, "reason": pl.String}))
    assert empty.records == [] and [c.name for c in empty.schema.columns] == ["path", "reason"]


def test_a_curve_is_thinned_but_keeps_its_last_step():
    points = [[step, 1.0 / step] for step in range(1, 31)]
    curve = curve_table(points, "loss", rows=12)
    steps = [r.data["step"] for r in curve.records]
    assert steps[0] == 1 and steps[-1] == 30 and len(steps) <= 13
    assert [(c.name, c.type) for c in curve.schema.columns] == [("step", "int"), ("loss", "float")]
    assert curve_table([], "reward").records == []
