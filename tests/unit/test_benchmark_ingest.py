"""Ingesting a hand-made benchmark in one library call, and the one annotation digest every
stage keys an annotation file by."""

from __future__ import annotations

import hashlib
import json

import polars as pl
from conftest import record, write_mp4

from viss_r1.artifacts import ArtifactStore
from viss_r1.data.benchmark_ingest import (
    ANNOTATIONS_FILE,
    CATALOG_FILE,
    QUARANTINE_FILE,
    RECORDS_FILE,
    BenchmarkCounts,
    ingest_benchmark,
)
from viss_r1.data.frame_cache import INDEX_FILE, FrameEncoding
from viss_r1.data.records import annotation_digest, annotation_key, load_annotation_source
from viss_r1.video.sampling import FrameSampling

SAMPLING = FrameSampling(fps=4.0, min_frames=4, max_frames=8, min_pixels=56 * 56, max_pixels=56 * 56)


def test_a_benchmark_is_ingested_with_a_corrupt_video_missing_and_a_bad_record_quarantined(tmp_path):
    media = tmp_path / "media"
    for i in range(2):
        write_mp4(media / f"good_{i}.mp4", num_frames=16, seed=i)
    (media / "corrupt.mp4").write_text("this is not a video\n" * 50)
    annotations = tmp_path / "eval_bench.json"
    annotations.write_text(json.dumps([
        record(0, "./good_0.mp4"), record(1, "./good_1.mp4"),
        record(2, "./good_0.mp4", solution="<answer>A</answer>"),   # a second question on one video
        record(3, "./corrupt.mp4"),
        {k: v for k, v in record(4, "./good_1.mp4").items() if k != "solution"},   # fails the schema
    ]))
    records, quarantine = load_annotation_source(annotations, "bench", str(media), "eval")
    folder = tmp_path / "artifact"
    folder.mkdir()
    log: list[str] = []

    counts = ingest_benchmark(ArtifactStore(str(tmp_path / "store")), folder, records, quarantine, min_frames=4,
                              sampling=SAMPLING, encoding=FrameEncoding(), num_shards=2, code_version="test",
                              workers=1, log=log.append)

    assert counts == BenchmarkCounts(records=4, usable=3, missing=1, quarantined=1, clips_decoded=2)
    joined = pl.read_parquet(folder / RECORDS_FILE).sort("problem_id")
    assert joined["problem_id"].to_list() == ["0", "1", "2", "3"] and set(joined["split"]) == {"eval"}
    reasons = dict(zip(joined["problem_id"], joined["reason"]))
    assert reasons["0"] is None and reasons["2"] is None
    assert reasons["3"].startswith("media quarantined: unreadable video")
    assert joined.filter(pl.col("reason").is_null())["num_frames"].to_list() == [8, 8, 8]
    (bad,) = pl.read_parquet(folder / QUARANTINE_FILE).to_dicts()
    assert bad["problem_id"] == "4" and "solution" in bad["reason"]
    assert len(pl.read_parquet(folder / CATALOG_FILE)) == 3            # distinct media files, probed once
    assert len(pl.read_parquet(folder / ANNOTATIONS_FILE)) == 4 and len(pl.read_parquet(folder / INDEX_FILE)) == 2
    assert any("2 clips in" in line for line in log)


def test_one_annotation_digest_keys_an_annotation_file_and_changes_when_it_is_edited(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([record(0, "./a.mp4")]))
    digest = annotation_digest(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()[:16]   # the digest keys were made with
    assert annotation_key(path, "/media") == f"{digest}@/media"              # a benchmark's file
    assert annotation_key(path, "/media", "train") == f"{digest}@/media@train"   # a training source
    copy = tmp_path / "copy.json"
    copy.write_bytes(path.read_bytes())
    assert annotation_digest(copy) == digest                              # the content, not the name
    path.write_text(json.dumps([record(0, "./a.mp4", solution="<answer>A</answer>")]))
    assert annotation_digest(path) != digest
