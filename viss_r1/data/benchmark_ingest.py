"""Ingest a benchmark: its records and their media → a catalog, frames in the shared frame cache,
and the records joined with their clips, written into one folder (a benchmark's artifact).

The same bulk steps as the training data plane (``viss_r1.data.ingest``), in one call, because a
benchmark is read once and scored many times: every record keeps its row (a video that is missing,
unreadable, too short or fails to decode gives it a ``reason`` and it is counted *missing*, never
scored), and records that fail the schema are quarantined with theirs.

    counts = ingest_benchmark(store, folder, records, quarantine, min_frames=4, sampling=…, encoding=…,
                              num_shards=4, code_version=…)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from viss_r1.data.frame_cache import INDEX_FILE, FrameEncoding
from viss_r1.data.ingest import DECODE_TIMEOUT_S, Log, cache_frames, probe_files, write_frame_index
from viss_r1.data.pretext_samples import records_with_clips
from viss_r1.data.tables import write_table
from viss_r1.video.sampling import FrameSampling

RECORDS_FILE = "records.parquet"          # the records joined with their clips: what evaluation reads
ANNOTATIONS_FILE = "annotations.parquet"  # the valid records as loaded
CATALOG_FILE = "catalog.parquet"          # one probed row per distinct media file
QUARANTINE_FILE = "quarantine.parquet"    # records that failed the schema, with the reason


@dataclass(frozen=True)
class BenchmarkCounts:
    records: int           # valid records, each a row of RECORDS_FILE
    usable: int            # of them, with a cached clip
    missing: int           # of them, without one (its ``reason`` says why)
    quarantined: int       # records that failed the schema
    clips_decoded: int     # clips decoded by this call (shards already in the store are reused)


def media_of(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each distinct (media_root, path) the records refer to, once, in order of first use."""
    return list({(r["media_root"], r["path"]): {k: r[k] for k in ("media_root", "path", "data_type")}
                 for r in records}.values())


def ingest_benchmark(store, folder: Path, records: Sequence[dict[str, Any]], quarantine: Sequence[dict[str, Any]],
                     *, min_frames: int, sampling: FrameSampling, encoding: FrameEncoding, num_shards: int,
                     code_version: str, workers: int = 0, timeout_s: float = DECODE_TIMEOUT_S,
                     log: Log = print) -> BenchmarkCounts:
    """Probe the records' media, cache their frames (shards the store lacks are decoded) and write
    into ``folder``: the frame index files, ``CATALOG_FILE``, ``QUARANTINE_FILE``,
    ``ANNOTATIONS_FILE`` and ``RECORDS_FILE``. ``records`` carry ``media_root`` and ``split``
    (``viss_r1.data.records.load_annotation_source``); ``code_version`` enters the shard keys."""
    catalog = probe_files(media_of(records), min_frames, workers, log, timeout_s=timeout_s,
                          media_folder=store.media_folder)
    cached = cache_frames(store, catalog, sampling, encoding, num_shards, code_version, workers, log,
                          timeout_s=timeout_s)
    write_frame_index(folder, cached)
    catalog_table = write_table(catalog, folder / CATALOG_FILE, "catalog")
    write_table(quarantine, folder / QUARANTINE_FILE, "record_quarantine")
    joined = records_with_clips(write_table(records, folder / ANNOTATIONS_FILE, "records"), catalog_table,
                                pl.read_parquet(folder / INDEX_FILE))
    joined.write_parquet(folder / RECORDS_FILE)
    missing = int(joined["reason"].is_not_null().sum())
    return BenchmarkCounts(records=len(joined), usable=len(joined) - missing, missing=missing,
                           quarantined=len(quarantine), clips_decoded=cached.clips_decoded)
