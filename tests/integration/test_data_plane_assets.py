"""The data-plane assets materialized in-process with real resources in a temp state folder."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from asset_runs import materialize_assets, metadata

from assets import checks, datasets, ingestion
from viss_r1.artifacts import MANIFEST
from viss_r1.data.frame_cache import ROWS_PER_ROW_GROUP
from pipelines.definitions import resources

SMALL_SYNTHETIC = {"num_train": 12, "num_eval": 6}
ASSETS = dg.load_assets_from_modules([ingestion, datasets])
CHECKS = dg.load_asset_checks_from_modules([checks])


materialize = partial(materialize_assets, [*ASSETS, *CHECKS])


def folder(result, asset: str) -> Path:
    return Path(metadata(result, asset)["artifact_uri"])


def synthetic_config(**pretext) -> dict:
    return {"ops": {"video_sources": {"config": {"synthetic": SMALL_SYNTHETIC}},
                    "pretext_samples": {"config": pretext}}}


@pytest.fixture
def instance(isolated_state):
    with dg.instance_for_test() as instance:
        yield instance


def test_embedded_data_plane_builds_then_reuses_then_rebuilds_only_what_changed(instance, isolated_state):
    first = materialize(synthetic_config(), instance)
    names = ["video_sources", "video_catalog", "frame_cache", "pretext_samples"]
    assert [metadata(first, n)["reused"] for n in names] == [False] * 4
    catalog = metadata(first, "video_catalog")
    assert catalog["files"] == 18 and catalog["quarantined"] == 0
    cache = metadata(first, "frame_cache")
    assert cache["clips"] == 18 and cache["failed_clips"] == 0
    checks_passed = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks_passed == {"frame_count_matches_sampling": True, "transform_labels_follow_design": True,
                             "quarantined_records_within_limits": True, "quarantined_media_within_limits": True}

    rl = pl.read_parquet(folder(first, "pretext_samples") / "video_questions.parquet")
    assert len(rl) == 12 and set(rl["transform_name"]) <= {"rotate", "arrow", "shuffle"}
    assert set(rl["split"]) == {"train"}  # the 6 eval clips are held out of every training table
    assert rl["num_frames"].to_list() == [16] * 12  # 32 frames at 8 fps sampled at 4 fps

    second = materialize(synthetic_config(), instance)
    assert [metadata(second, n)["reused"] for n in names] == [True] * 4
    assert [metadata(second, n)["cache_key"] for n in names] == [metadata(first, n)["cache_key"] for n in names]
    # the generated set is an artifact like any other: built once, reused the second time
    built = metadata(first, "video_sources")["synthetic_set"]
    reused = metadata(second, "video_sources")["synthetic_set"]
    assert (built["reused"], reused["reused"]) == (False, True) and reused["cache_key"] == built["cache_key"]
    assert built["clips"] == reused["clips"] == 18
    manifest = json.loads((isolated_state / "artifacts" / ingestion.SYNTHETIC_ARTIFACT / built["cache_key"]
                           / "manifest.json").read_text())
    assert manifest["summary"]["clips"] == 18 and "build_seconds" in manifest["summary"]
    sources = json.loads((folder(second, "video_sources") / "sources.json").read_text())
    assert {s["media_root"] for s in sources} == {f"artifact:{ingestion.SYNTHETIC_ARTIFACT}/{built['cache_key']}"}

    third = materialize(synthetic_config(seed=7), instance)
    assert [metadata(third, n)["reused"] for n in names] == [True, True, True, False]
    rl7 = pl.read_parquet(folder(third, "pretext_samples") / "video_questions.parquet")
    assert rl7["transform_letter"].to_list() != rl["transform_letter"].to_list()


def bad_source(bad_media_root, **policy) -> dict:
    annotations, root = bad_media_root
    return {"ops": {"video_sources": {"config": {"sources": [
                {"name": "mine", "annotations": str(annotations), "media_root": str(root)}]}}},
            "resources": {"quarantine_policy": {"config": policy}}}


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_bad_inputs_end_in_quarantine_with_reasons_and_the_run_succeeds(instance, bad_media_root):
    # 4 of the 12 records and 5 of the 8 files they name are bad: above the warning share, and
    # allowed here up to 90 %
    result = materialize(bad_source(bad_media_root, fail_above=0.9), instance)
    checks = check_results(result)
    for name, says in (("quarantined_records_within_limits", "mine: 4 of 12 records (33%)"),
                       ("quarantined_media_within_limits", "mine: 5 of 8 media files (62%)")):
        assert not checks[name].passed and checks[name].severity == dg.AssetCheckSeverity.WARN
        assert "above 5%: " + says in checks[name].description, checks[name].description

    record_quarantine = pl.read_parquet(folder(result, "video_sources") / "quarantine.parquet")
    assert sorted(record_quarantine["problem_id"].to_list()) == ["15", "16", "17", "18"]
    reasons = dict(zip(record_quarantine["problem_id"], record_quarantine["reason"]))
    assert "escapes the media root" in reasons["15"]
    assert "solution" in reasons["16"] and "options" in reasons["17"] and "problem_type" in reasons["18"]

    catalog = pl.read_parquet(folder(result, "video_catalog") / "catalog.parquet")
    status = {r["path"]: (r["status"], r["reason"]) for r in catalog.to_dicts()}
    assert all(status[f"good_{i}.mp4"][0] == "ok" for i in range(3))
    assert status["zero.mp4"] == ("quarantined", "zero-byte file")
    assert status["truncated.mp4"][1].startswith("unreadable video")
    assert status["text.mp4"][1].startswith("unreadable video")
    assert "need >= 4 (min_frames)" in status["one_frame.mp4"][1]
    assert status["missing.mp4"][1].startswith("file not found")
    assert metadata(result, "video_catalog")["quarantined"] == 5

    samples = folder(result, "pretext_samples")
    rl = pl.read_parquet(samples / "video_questions.parquet")
    assert sorted(rl["problem_id"].to_list()) == ["0", "1", "2"]
    dropped = pl.read_parquet(samples / "quarantine.parquet")
    assert sorted(dropped["problem_id"].to_list()) == ["10", "11", "12", "13", "14"]
    assert all(reason.startswith("media quarantined: ") for reason in dropped["reason"])


def test_a_source_mostly_quarantined_fails_its_check_and_stops_the_run(instance, bad_media_root):
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources(), run_config=bad_source(bad_media_root),
                            instance=instance, raise_on_error=False)
    assert not result.success
    checks = check_results(result)
    media = checks["quarantined_media_within_limits"]   # 62 % of the files, over the default 50 %
    assert not media.passed and media.severity == dg.AssetCheckSeverity.ERROR
    assert media.description.startswith("quarantined media files above 50%: mine: 5 of 8 media files (62%)")
    assert "resources.quarantine_policy.config" in media.description
    assert not checks["quarantined_records_within_limits"].passed   # 33 %: a warning only
    assert not result.asset_materializations_for_node("frame_cache")  # blocked: nothing built from it


def test_a_cached_clip_whose_frames_differ_from_the_rule_fails_the_frame_check(instance, isolated_state):
    """The cache's own index still claims the right count; decoding the clip again shows a frame
    short and an index off its rule (a shard built wrong, by a decoder that has since changed)."""
    import pyarrow.parquet as pq

    first = materialize(synthetic_config(), instance)
    (shard,) = [p for p in (isolated_state / "artifacts").glob("frame_cache_shard/*/*.parquet")
                if "frames" in pq.read_schema(p).names][:1]
    table = pq.read_table(shard).to_pylist()
    table[0]["frames"], table[0]["frame_indices"] = table[0]["frames"][:-1], table[0]["frame_indices"][:-1]
    pq.write_table(pa_table(table, pq.read_schema(shard)), shard, row_group_size=ROWS_PER_ROW_GROUP)
    # Published so: its manifest records this size (a file changed after publishing is damage,
    # which the store itself finds and rebuilds: test_moved_store.py).
    manifest = json.loads((shard.parent / MANIFEST).read_text())
    manifest["sizes"][shard.name] = shard.stat().st_size
    (shard.parent / MANIFEST).write_text(json.dumps(manifest))

    second = dg.materialize([*ASSETS, *CHECKS], resources=resources(), run_config=synthetic_config(),
                            instance=instance, raise_on_error=False)
    assert metadata(first, "frame_cache")["clips"] == 18 and not second.success
    frames = check_results(second)["frame_count_matches_sampling"]
    assert not frames.passed and frames.metadata["wrong"].value == 1
    assert frames.description.startswith("1 clips do not hold the frames the sampling rule gives them")
    (example,) = frames.metadata["examples"].value
    assert example["decoded_frames"] == 15 and len(example["rule_indices"]) == 16


def pa_table(rows: list[dict], schema):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=schema)


def test_a_missing_annotation_file_is_a_clear_error(instance):
    run_config = {"ops": {"video_sources": {"config": {"sources": [
        {"name": "x", "annotations": "/nonexistent/train.json", "media_root": "/tmp"}]}}}}
    result = dg.materialize(ASSETS, resources=resources(), run_config=run_config, instance=instance,
                            raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "file /nonexistent/train.json does not exist" in str(failure.step_failure_data.error)


def test_mlflow_has_a_parent_run_and_one_nested_run_per_asset(instance, isolated_state):
    import mlflow

    materialize(synthetic_config(), instance)
    client = mlflow.tracking.MlflowClient(f"sqlite:///{isolated_state}/mlflow.db")
    (experiment,) = [e for e in client.search_experiments() if e.name.startswith("viss_r1/")]
    runs = client.search_runs([experiment.experiment_id])
    stages = {r.data.tags["viss_r1.stage"]: r for r in runs}
    assert set(stages) == {"pipeline", "video_sources", "video_catalog", "frame_cache", "pretext_samples"}
    assert len(runs) == len(stages)   # one run per asset: the synthetic set has none of its own
    parent = stages["pipeline"].info.run_id
    assert all(r.data.tags["mlflow.parentRunId"] == parent for n, r in stages.items() if n != "pipeline")
    cache_run = stages["frame_cache"]
    assert cache_run.data.params["sampling.max_frames"] == "16"
    assert cache_run.data.metrics["clips"] == 18
    (dataset_input,) = cache_run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "video_catalog"
    assert dataset_input.dataset.digest == stages["video_catalog"].data.tags["cache_key"]
    assert json.loads(dataset_input.dataset.source)["uri"].endswith(dataset_input.dataset.digest)
    logged = {f.path for f in client.list_artifacts(stages["pretext_samples"].info.run_id)}
    assert logged == {"frame_strip.png", "label_balance.json"}
    assert (isolated_state / "mlflow-artifacts").is_dir()
    assert "viss_r1.built_by_run" not in cache_run.data.tags   # built here

    # A rerun reuses every artifact: each stage's new run names the run that built it and carries
    # its metrics, so a compare view finds them on either.
    materialize(synthetic_config(), instance)
    second = {r.data.tags["viss_r1.stage"]: r for r in client.search_runs([experiment.experiment_id])
              if r.info.run_id not in {run.info.run_id for run in runs}}
    reused = second["frame_cache"]
    assert reused.data.tags["reused"] == "True" and reused.data.tags["viss_r1.built_by_run"] == cache_run.info.run_id
    assert reused.data.metrics["clips"] == 18 and reused.data.metrics["build_seconds"] == \
        cache_run.data.metrics["build_seconds"]


def test_adding_a_video_decodes_only_the_shard_it_lands_in(instance, tmp_path):
    from conftest import record, write_mp4

    root = tmp_path / "media"
    records = []
    for i in range(6):
        write_mp4(root / f"v{i}.mp4", num_frames=16, seed=i)
        records.append(record(i, f"./v{i}.mp4"))
    annotations = tmp_path / "train.json"
    annotations.write_text(json.dumps(records))
    run_config = {"ops": {
        "video_sources": {"config": {"sources": [{"name": "train", "annotations": str(annotations),
                                                  "media_root": str(root)}]}},
        "frame_cache": {"config": {"num_shards": 64}},
    }}
    first = materialize(run_config, instance)
    shards = metadata(first, "frame_cache")["shards"]
    assert metadata(first, "frame_cache")["shards_decoded_this_run"] == shards >= 2

    write_mp4(root / "new.mp4", num_frames=16, seed=99)
    annotations.write_text(json.dumps(records + [record(6, "./new.mp4")]))
    second = materialize(run_config, instance)
    assert metadata(second, "frame_cache")["reused"] is False
    assert metadata(second, "frame_cache")["clips"] == 7
    assert metadata(second, "frame_cache")["shards_decoded_this_run"] == 1


def test_an_annotation_file_has_one_digest_in_both_assets_that_read_it(instance, tmp_path):
    """video_sources and a benchmark key the same file by the same digest; an edit changes it in
    both, and both rebuild."""
    from conftest import record, write_mp4

    from assets.evaluation import benchmark_asset
    from viss_r1.evaluate.benchmarks import BENCHMARKS

    root = tmp_path / "media"
    for i in range(2):
        write_mp4(root / f"v{i}.mp4", num_frames=16, seed=i)
    annotations = tmp_path / "shared.json"
    annotations.write_text(json.dumps([record(i, f"./v{i}.mp4") for i in range(2)]))
    run_config = {"ops": {
        "video_sources": {"config": {"sources": [{"name": "mine", "annotations": str(annotations),
                                                  "media_root": str(root)}]}},
        "benchmark_mvbench": {"config": {"annotations": str(annotations), "media_root": str(root)}}}}
    assets = [ingestion.video_sources, benchmark_asset(BENCHMARKS["mvbench"])]

    def digests(result) -> tuple[str, str]:
        inputs = [json.loads((folder(result, name) / "manifest.json").read_text())["summary"]["inputs"]
                  for name in ("video_sources", "benchmark_mvbench")]
        assert inputs[0]["mine"] == inputs[1]["annotations"] + "@train"   # digest@media_root[@split]
        return inputs[0]["mine"].split("@")[0], inputs[1]["annotations"].split("@")[0]

    first = materialize_assets(assets, run_config, instance)
    source_digest, benchmark_digest = digests(first)
    assert source_digest == benchmark_digest

    annotations.write_text(json.dumps([record(i, f"./v{i}.mp4", solution="<answer>A</answer>") for i in range(2)]))
    edited = materialize_assets(assets, run_config, instance)
    assert not metadata(edited, "video_sources")["reused"] and not metadata(edited, "benchmark_mvbench")["reused"]
    new_source, new_benchmark = digests(edited)
    assert new_source == new_benchmark != source_digest
