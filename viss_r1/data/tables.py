"""Schemas of the data plane's Parquet tables, so an empty table still has its columns."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from viss_r1.artifacts import ARTIFACT_MEDIA

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "records": {
        "source": pl.String, "record_index": pl.Int64, "problem_id": pl.String, "problem": pl.String,
        "data_type": pl.String, "problem_type": pl.String, "options": pl.List(pl.String), "process": pl.String,
        "solution": pl.String, "path": pl.String, "data_source": pl.String, "trans_opt": pl.String,
        "trans_ans": pl.String, "extra": pl.String, "media_root": pl.String, "split": pl.String,
    },
    "record_quarantine": {
        "source": pl.String, "record_index": pl.Int64, "problem_id": pl.String, "reason": pl.String,
    },
    "catalog": {
        "media_root": pl.String, "path": pl.String, "data_type": pl.String, "status": pl.String,
        "reason": pl.String, "fingerprint": pl.String, "size_bytes": pl.Int64, "frame_count": pl.Int64,
        "fps": pl.Float64, "duration_s": pl.Float64, "width": pl.Int64, "height": pl.Int64,
    },
    "clip_index": {
        "fingerprint": pl.String, "shard": pl.Int64, "shard_key": pl.String, "data_type": pl.String,
        "num_frames": pl.Int64, "expected_frames": pl.Int64, "height": pl.Int64, "width": pl.Int64,
        "sample_fps": pl.Float64,
    },
    "clip_failures": {"fingerprint": pl.String, "path": pl.String, "reason": pl.String},
    "pretext_samples": {
        "sample_id": pl.String, "use": pl.String, "source": pl.String, "split": pl.String, "record_index": pl.Int64,
        "problem_id": pl.String, "problem": pl.String, "data_type": pl.String, "problem_type": pl.String,
        "options": pl.List(pl.String), "process": pl.String, "solution": pl.String, "path": pl.String,
        "data_source": pl.String, "extra": pl.String, "fingerprint": pl.String, "num_frames": pl.Int64,
        "transform_media": pl.String, "transform_name": pl.String, "transform_param": pl.Int64,
        "transform_letter": pl.String, "pretext_question": pl.String, "seed": pl.Int64,
    },
    "sample_quarantine": {
        "use": pl.String, "source": pl.String, "record_index": pl.Int64, "problem_id": pl.String, "reason": pl.String,
    },
}


def write_table(rows: Iterable[dict[str, Any]], path: Path, schema: str) -> pl.DataFrame:
    frame = pl.DataFrame(list(rows), schema=SCHEMAS[schema])
    frame.write_parquet(path)
    return frame


def catalog_media_digest(media: Iterable[dict[str, Any]]) -> str:
    """Digest of (path, size, mtime) of every referenced file: cheap to compute (a stat per
    file), and it changes when a file is added, removed or rewritten, so the catalog re-probes.
    A file of an artifact (``ARTIFACT_MEDIA``) enters by name only: an artifact never changes
    once published, and its folder and mtimes change when the store is moved or copied."""
    digest = hashlib.sha256()
    for row in sorted(media, key=lambda r: (r["media_root"], r["path"])):
        if row["media_root"].startswith(ARTIFACT_MEDIA):
            digest.update(f"{row['media_root']}/{row['path']}\n".encode())
            continue
        file = Path(row["media_root"]) / row["path"]
        try:
            stat = os.stat(file)
            digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{file}|missing\n".encode())
    return digest.hexdigest()[:16]
