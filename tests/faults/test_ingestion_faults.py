"""Ingestion faults: a decoder that segfaults or hangs on one file, a control character in a
record's path, and a catalog threshold below the sampling's. Each costs one quarantine row (or
is refused before any work), never the run (DESIGN.md "Durability contract").

The faulty decoders are real: the library's workers run whatever per-file function the caller
hands to ``probe_files``/``cache_frames`` (by default the real probe and decode), and these
wrap the real ones, crashing the worker process with a genuine SIGSEGV or sleeping past the
timeout on one named file. Nothing in the library knows about them.
"""

from __future__ import annotations

import ctypes
import json
import time
from functools import partial

import pytest
from conftest import record, write_mp4

from viss_r1.artifacts import ArtifactStore
from viss_r1.data.frame_cache import decode_clip
from viss_r1.data.ingest import cache_frames, probe_files
from viss_r1.data.records import load_annotation_file
from viss_r1.video.encoding import FrameEncoding
from viss_r1.video.probe import probe_row_worker
from viss_r1.video.sampling import FrameSampling

SAMPLING = FrameSampling(fps=4.0, min_frames=4, max_frames=8, min_pixels=56 * 56, max_pixels=56 * 56)
GOOD = ["good_0.mp4", "good_1.mp4", "good_2.mp4"]
BAD = "bad.mp4"


def _segfault() -> None:
    ctypes.string_at(0)  # reads address 0: the kernel kills the process with SIGSEGV, as a decoder bug would


def _hang() -> None:
    time.sleep(3600)


FAULTS = {"segfault": _segfault, "hang": _hang}


def probe_with_fault(fault: str, name: str, job: tuple) -> dict:
    if job[1] == name:
        FAULTS[fault]()
    return probe_row_worker(job)


def decode_with_fault(fault: str, name: str, clip, sampling, encoding) -> dict:
    if clip.path == name:
        FAULTS[fault]()
    return decode_clip(clip, sampling, encoding)


@pytest.fixture
def media(tmp_path):
    """Four valid clips; the fault is injected on ``bad.mp4``, which itself decodes fine."""
    root = tmp_path / "media"
    for seed, name in enumerate([*GOOD, BAD]):
        write_mp4(root / name, num_frames=16, seed=seed)
    return [{"media_root": str(root), "path": name, "data_type": "video"} for name in [*GOOD, BAD]]


def _probe_then_decode(media, tmp_path, fault: str, timeout_s: float):
    catalog = probe_files(media, 4, workers=2, log=lambda _: None, timeout_s=timeout_s,
                          probe=partial(probe_with_fault, fault, BAD))
    healthy = probe_files(media, 4, workers=2, log=lambda _: None)  # the catalog without the fault
    store = ArtifactStore(str(tmp_path / "store"))
    # One shard holds every clip, so the bad one shares it with the good ones.
    cached = cache_frames(store, healthy, SAMPLING, FrameEncoding(), 1, "test", workers=2, log=lambda _: None,
                          timeout_s=timeout_s, decode=partial(decode_with_fault, fault, BAD))
    return catalog, healthy, cached


def test_a_segfaulting_decoder_quarantines_its_file_and_the_shard_goes_on(media, tmp_path):
    catalog, healthy, cached = _probe_then_decode(media, tmp_path, "segfault", timeout_s=60)

    status = {row["path"]: (row["status"], row["reason"]) for row in catalog}
    assert status == {**{name: ("ok", "") for name in GOOD}, BAD: ("quarantined", "decoder crashed (signal SIGSEGV)")}

    fingerprints = {row["path"]: row["fingerprint"] for row in healthy}
    assert sorted(row["fingerprint"] for row in cached.index) == sorted(fingerprints[name] for name in GOOD)
    assert cached.failures == [{"fingerprint": fingerprints[BAD], "path": BAD,
                                "reason": "decoder crashed (signal SIGSEGV)"}]
    assert (cached.shards_decoded, cached.clips_decoded, cached.frames_decoded) == (1, 3, 24)


def test_a_hanging_decoder_times_out_and_the_others_finish(media, tmp_path):
    started = time.monotonic()
    catalog, healthy, cached = _probe_then_decode(media, tmp_path, "hang", timeout_s=2)

    status = {row["path"]: (row["status"], row["reason"]) for row in catalog}
    assert status == {**{name: ("ok", "") for name in GOOD}, BAD: ("quarantined", "decoder timed out after 2 s")}
    fingerprints = {row["path"]: row["fingerprint"] for row in healthy}
    assert sorted(row["fingerprint"] for row in cached.index) == sorted(fingerprints[name] for name in GOOD)
    assert cached.failures == [{"fingerprint": fingerprints[BAD], "path": BAD,
                                "reason": "decoder timed out after 2 s"}]
    assert time.monotonic() - started < 120  # the hour-long sleeps were cut short


def test_control_characters_in_a_record_path_are_quarantined_with_their_name(tmp_path):
    annotations = tmp_path / "train.json"
    annotations.write_text(json.dumps([record(1, "videos/a\x00.mp4"), record(2, "videos/a\nb.mp4"),
                                       record(3, "videos/\x1b.mp4"), record(4, "videos/a.mp4")]))
    valid, quarantine = load_annotation_file(annotations, "train")
    assert [row["problem_id"] for row in valid] == ["4"]
    assert [(row["problem_id"], row["reason"]) for row in quarantine] == [
        ("1", "path: Value error, path 'videos/a\\x00.mp4' holds control character NUL (U+0000) at index 8; "
              "fix the record's path"),
        ("2", "path: Value error, path 'videos/a\\nb.mp4' holds control character LF (U+000A) at index 8; "
              "fix the record's path"),
        ("3", "path: Value error, path 'videos/\\x1b.mp4' holds control character ESC (U+001B) at index 7; "
              "fix the record's path"),
    ]


def test_a_nul_byte_reaching_the_probe_is_one_quarantine_row(media):
    # Validation stops such paths first; should one get past it, os.stat's ValueError (not an
    # OSError) is still that file's reason, not the run's end.
    rows = probe_files([*media[:1], {**media[0], "path": "a\x00.mp4"}], 4, workers=1, log=lambda _: None)
    assert [(row["path"], row["status"], row["reason"]) for row in rows] == [
        ("a\x00.mp4", "quarantined", "probe failed: ValueError: embedded null byte"),
        ("good_0.mp4", "ok", ""),
    ]


def test_a_catalog_threshold_below_the_sampling_one_is_refused_before_probing(tmp_path, isolated_state):
    import dagster as dg  # imported here: the decode workers import this module, and need not pay for Dagster

    from assets import ingestion
    from pipelines.definitions import resources

    write_mp4(tmp_path / "media" / "a.mp4", num_frames=8)
    annotations = tmp_path / "train.json"
    annotations.write_text(json.dumps([record(1, "a.mp4")]))
    run_config = {"ops": {
        "video_sources": {"config": {"sources": [{"name": "train", "annotations": str(annotations),
                                                  "media_root": str(tmp_path / "media")}]}},
        "video_catalog": {"config": {"min_frames": 2}},
        "frame_cache": {"config": {"sampling": {"min_frames": 6, "max_frames": 8}}},
    }}
    with dg.instance_for_test() as instance:
        result = dg.materialize(dg.load_assets_from_modules([ingestion]), resources=resources(),
                                run_config=run_config, instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == "video_catalog"
    assert failure.step_failure_data.error.message.endswith(
        "run config refused: video_catalog.config.min_frames 2 is below frame_cache.config.sampling.min_frames 6: "
        "clips with 2..5 frames would pass probing and then fail frame sampling. Raise "
        "video_catalog.config.min_frames to at least 6 or lower frame_cache.config.sampling.min_frames to 2.\n")
    assert result.asset_materializations_for_node("video_catalog") == []


def test_a_benchmark_threshold_below_its_sampling_is_refused():
    from assets.configs import BenchmarkConfig

    with pytest.raises(ValueError, match=r"min_frames 3 is below sampling\.min_frames 4: .* Raise min_frames to at "
                                         r"least 4 or lower sampling\.min_frames to 3\."):
        BenchmarkConfig(min_frames=3)
    assert BenchmarkConfig(min_frames=4).min_frames == 4
