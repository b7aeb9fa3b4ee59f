"""The evaluation plane in-process: every benchmark's fixture (the release's eval-file schema,
one video missing) and the synthetic eval split go through the benchmark asset, the tiny base
model is scored out of process under every probe, and the leaderboard collects the results."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from asset_runs import materialize_assets, metadata
from benchmark_fixtures import write_benchmark_fixture

from pipelines.definitions import all_assets
from viss_r1.evaluate.benchmarks import BENCHMARKS

ASSETS = all_assets()
SMALL_TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1,
              "vision_depth": 1, "vision_hidden_size": 16, "vision_heads": 1, "vision_pretraining_steps": 0}
REAL = [name for name in BENCHMARKS if name != "synthetic"]
EVAL_CONFIG = {"decoding": {"max_new_tokens": 6, "batch_size": 4}, "probes": {"frame_drop": [0.5]}}


def run_config(fixtures: dict[str, tuple[Path, Path]]) -> dict:
    ops = {
        "video_sources": {"config": {"synthetic": {"num_train": 4, "num_eval": 4}}},
        "base_model": {"config": {"tiny": SMALL_TINY}},
        **{f"benchmark_{name}": {"config": {"annotations": str(a), "media_root": str(m)}}
           for name, (a, m) in fixtures.items()},
        **{f"eval__base_model__{name}": {"config": EVAL_CONFIG} for name in BENCHMARKS},
    }
    return {"ops": ops}


SELECTION = (["video_sources", "video_catalog", "frame_cache", "pretext_samples", "base_model", "leaderboard"]
             + [f"benchmark_{name}" for name in BENCHMARKS] + [f"eval/base_model/{name}" for name in BENCHMARKS])


materialize = partial(materialize_assets, ASSETS, selection=SELECTION)


@pytest.mark.slow
def test_every_benchmark_is_scored_through_the_assets_and_lands_on_the_leaderboard(isolated_state, tmp_path):
    fixtures = {name: write_benchmark_fixture(name, tmp_path / name) for name in REAL}
    with dg.instance_for_test() as instance:
        first = materialize(run_config(fixtures), instance)
        for name in REAL:
            bench = metadata(first, f"benchmark_{name}")
            records = len(json.loads(fixtures[name][0].read_text()))
            assert (bench["records"], bench["missing"]) == (records, 1), name   # the missing video is counted

            scored = metadata(first, f"eval__base_model__{name}")
            assert not scored["reused"] and scored["score"] is not None
            (result_file,) = (isolated_state / "artifacts" / "eval" / "base_model" / name).glob("*/results.parquet")
            results = pl.read_parquet(result_file)
            clean = results.filter(pl.col("condition") == "clean")
            assert clean["status"].value_counts().sort("status").rows() == [("missing", 1), ("ok", records - 1)]
            assert set(results["condition"]) == {"clean", "blind", "no_video", "transformed", "frame_drop_0.50"}
            transformed = results.filter(pl.col("condition") == "transformed", pl.col("status") == "ok")
            assert transformed["transform_truth"].null_count() == 0 and len(transformed) == records - 1
            dropped = results.filter(pl.col("condition") == "frame_drop_0.50", pl.col("status") == "ok")
            full = clean.filter(pl.col("status") == "ok")
            assert (dropped["frames"] < full["frames"]).all()   # frames really dropped
            blind = results.filter(pl.col("condition") == "blind", pl.col("status") == "ok")
            assert blind["frames"].to_list() == full["frames"].to_list()   # the clean clip's shape, nothing in it
            assert results.filter(pl.col("condition") == "no_video", pl.col("status") == "ok")["frames"].null_count() \
                == records - 1                                  # no video at all
            assert {"clean", "blind", "no_video"} <= set(scored["format_compliance"])   # beside the scores

        vsi = json.loads(next((isolated_state / "artifacts" / "eval" / "base_model" / "vsi_bench")
                              .glob("*/scores.json")).read_text())
        assert {"overall_release", "overall_official"} <= set(vsi["conditions"]["clean"])
        synthetic = metadata(first, "benchmark_synthetic")
        assert (synthetic["records"], synthetic["missing"]) == (4, 0)   # video_sources' eval split

        board = metadata(first, "leaderboard")
        assert board["results"] == len(BENCHMARKS)
        header = [column.name for column in board["leaderboard"].schema.columns]   # Dagster's table metadata
        assert header[0] == "model" and all(spec.title in header for spec in BENCHMARKS.values())
        assert {"Synthetic blind", "Synthetic no video", "Synthetic visual reliance", "Synthetic format",
                "Synthetic blind format"} <= set(header)
        assert [record.data["model"] for record in board["leaderboard"].records] == ["base_model"]
        assert board["dagster/row_count"] == 1
        (table_file,) = (isolated_state / "artifacts" / "leaderboard").glob("*/leaderboard.parquet")
        table = pl.read_parquet(table_file)
        assert table["model"].to_list() == ["base_model"] and table["VSI-Bench"][0] == vsi["conditions"]["clean"]["overall"]
        assert_mlflow_has_the_evaluation(isolated_state)

        again = materialize(run_config(fixtures), instance)
        assert all(metadata(again, f"eval__base_model__{name}")["reused"] for name in BENCHMARKS)
        assert metadata(again, "leaderboard")["reused"]


def assert_mlflow_has_the_evaluation(state: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{state}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="attributes.run_name = 'eval/base_model/synthetic'")
    (run,) = runs
    assert {"score/overall", "score/blind", "score/no_video", "score/transformed", "pretext_accuracy/all",
            "samples/scored", "visual_reliance", "visual_reliance/no_video", "format/clean", "format/blind",
            "format/no_video"} <= set(run.data.metrics)
    assert run.data.params["decoding.max_new_tokens"] == "6" and run.data.params["decoding.temperature"] == "0.01"
    assert {"results.parquet", "scores.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    (board,) = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  filter_string="attributes.run_name = 'leaderboard'")
    assert {"leaderboard.json", "leaderboard.png"} <= {a.path for a in client.list_artifacts(board.info.run_id)}
