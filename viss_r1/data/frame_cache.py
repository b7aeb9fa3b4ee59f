"""The frame cache: sampled, resized frames stored once as encoded images in Parquet shards.

A shard is a stable hash bucket of video fingerprints, built and cached on its own, so adding
videos rebuilds only the shards they land in. Each shard row holds one clip: its encoded frames,
the source frame indices and the sampled fps (the timing the Qwen2.5-VL processor must be given,
METHOD.md §9). Clips that fail to decode become failure rows with the reason. Frames are
encoded and decoded by ``viss_r1.video.encoding``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from viss_r1.data.isolation import describe_error
from viss_r1.video.decode import decode_media
from viss_r1.video.encoding import FrameEncoding, decode_frames, encode_frame
from viss_r1.video.probe import resolve_inside
from viss_r1.video.sampling import FrameSampling, num_sampled_frames

SHARD_FILE = "shard.parquet"
FAILURES_FILE = "failures.parquet"
ROWS_PER_ROW_GROUP = 8  # small row groups: loading one clip reads a few clips, not a shard

SHARD_SCHEMA = pa.schema([
    ("fingerprint", pa.string()),
    ("data_type", pa.string()),
    ("frame_indices", pa.list_(pa.int64())),
    ("sample_fps", pa.float64()),
    ("video_fps", pa.float64()),
    ("total_frames", pa.int64()),
    ("num_frames", pa.int64()),
    ("height", pa.int64()),
    ("width", pa.int64()),
    ("frames", pa.list_(pa.binary())),
])
FAILURE_SCHEMA = pa.schema([("fingerprint", pa.string()), ("path", pa.string()), ("reason", pa.string())])


@dataclass(frozen=True)
class ClipToCache:
    fingerprint: str
    path: str          # relative to its media root
    media_root: str
    data_type: str


def shard_of(fingerprint: str, num_shards: int) -> int:
    """Stable bucket from the fingerprint's hex digits (never Python's salted hash())."""
    return int(fingerprint[:12], 16) % num_shards


def decode_clip(clip: ClipToCache, sampling: FrameSampling, encoding: FrameEncoding) -> dict:
    """One shard row: the clip's sampled frames, decoded, resized and encoded. Raises when the
    clip cannot be decoded. Top-level, so an isolated worker process can run it by name."""
    file = resolve_inside(Path(clip.media_root), clip.path)
    if file is None:
        raise ValueError(f"path {clip.path!r} escapes the media root")
    sampled = decode_media(file, clip.data_type, sampling)
    return {
        "fingerprint": clip.fingerprint,
        "data_type": clip.data_type,
        "frame_indices": sampled.frame_indices.tolist(),
        "sample_fps": sampled.sample_fps,
        "video_fps": sampled.video_fps,
        "total_frames": sampled.total_frames,
        "num_frames": len(sampled.frames),
        "height": int(sampled.frames.shape[1]),
        "width": int(sampled.frames.shape[2]),
        "frames": [encode_frame(frame, encoding) for frame in sampled.frames],
    }


def decode_failure(error: str) -> str:
    """A clip's failure reason for a decode that raised (``error``: "ValueError: message")."""
    return f"decode failed: {error}"


def write_shard(out_dir: Path, results: Iterable[tuple[ClipToCache, dict | str]]) -> dict:
    """Write ``shard.parquet`` + ``failures.parquet`` from (clip, shard row or failure reason)
    pairs, consumed as they come: rows go out a row group (ROWS_PER_ROW_GROUP rows) at a time,
    so memory holds one row group, never the shard. ``out_dir`` is a staging folder: a shard
    that stops half-way is never published (DESIGN.md "Durability contract")."""
    started = time.perf_counter()
    pending, failures, clips, frames_total = [], [], 0, 0
    with pq.ParquetWriter(out_dir / SHARD_FILE, SHARD_SCHEMA) as writer:
        for clip, result in results:
            if isinstance(result, str):
                failures.append({"fingerprint": clip.fingerprint, "path": clip.path, "reason": result})
                continue
            pending.append(result)
            clips += 1
            frames_total += result["num_frames"]
            if len(pending) == ROWS_PER_ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(pending, schema=SHARD_SCHEMA))
                pending = []
        if pending:
            writer.write_table(pa.Table.from_pylist(pending, schema=SHARD_SCHEMA))
    pq.write_table(pa.Table.from_pylist(failures, schema=FAILURE_SCHEMA), out_dir / FAILURES_FILE)
    return {"clips": clips, "failures": len(failures), "frames": frames_total,
            "seconds": round(time.perf_counter() - started, 3)}


def build_shard(clips: list[ClipToCache], sampling: FrameSampling, encoding: FrameEncoding, out_dir: Path) -> dict:
    """Decode every clip of one shard in this process and write it (no isolation: a decoder
    crash ends the process; ``viss_r1.data.ingest.cache_frames`` isolates each clip)."""
    return write_shard(out_dir, ((clip, _decode_here(clip, sampling, encoding)) for clip in clips))


def _decode_here(clip: ClipToCache, sampling: FrameSampling, encoding: FrameEncoding) -> dict | str:
    try:
        return decode_clip(clip, sampling, encoding)
    except Exception as error:  # a bad clip is a failure row; the shard goes on
        return decode_failure(describe_error(error))


@dataclass
class CachedClip:
    fingerprint: str
    frames: np.ndarray          # [T, H, W, 3] uint8
    frame_indices: np.ndarray
    sample_fps: float
    video_fps: float
    total_frames: int


class FrameCacheReader:
    """Random access to cached clips by fingerprint across the shard files.

    ``keep_bytes`` > 0 keeps the most recently loaded clips decoded, up to that many bytes of frames,
    so a clip read again (the next epoch, another row of the same clip) skips the row-group read
    and the image decoding. Kept frames are read-only: a caller that changed them in place would
    change every later load."""

    def __init__(self, shard_files: Iterable[Path], keep_bytes: int = 0):
        if keep_bytes < 0:
            raise ValueError(f"keep_bytes {keep_bytes}: need 0 (keep none) or more")
        self.keep_bytes = keep_bytes
        self._kept: OrderedDict[str, CachedClip] = OrderedDict()
        self._kept_bytes = 0
        self._files: list[pq.ParquetFile] = []
        self._where: dict[str, tuple[int, int, int]] = {}
        for file_number, path in enumerate(shard_files):
            parquet = pq.ParquetFile(path)
            self._files.append(parquet)
            fingerprints = parquet.read(columns=["fingerprint"]).column(0).to_pylist()
            for row, fp in enumerate(fingerprints):
                self._where[fp] = (file_number, row // ROWS_PER_ROW_GROUP, row % ROWS_PER_ROW_GROUP)

    def __contains__(self, fingerprint: str) -> bool:
        return fingerprint in self._where

    def __len__(self) -> int:
        return len(self._where)

    def fingerprints(self) -> list[str]:
        return list(self._where)

    def load(self, fingerprint: str) -> CachedClip:
        kept = self._kept.get(fingerprint)
        if kept is not None:
            self._kept.move_to_end(fingerprint)
            return kept
        clip = self._read(fingerprint)
        if 0 < clip.frames.nbytes <= self.keep_bytes:
            clip.frames.flags.writeable = False
            self._kept[fingerprint] = clip
            self._kept_bytes += clip.frames.nbytes
            while self._kept_bytes > self.keep_bytes:
                _, oldest = self._kept.popitem(last=False)
                self._kept_bytes -= oldest.frames.nbytes
        return clip

    def _read(self, fingerprint: str) -> CachedClip:
        try:
            file_number, group, row = self._where[fingerprint]
        except KeyError:
            raise KeyError(f"clip {fingerprint} is not in the frame cache") from None
        record = self._files[file_number].read_row_group(group).slice(row, 1).to_pylist()[0]
        return CachedClip(
            fingerprint=fingerprint,
            frames=decode_frames(record["frames"]),
            frame_indices=np.asarray(record["frame_indices"], dtype=np.int64),
            sample_fps=record["sample_fps"],
            video_fps=record["video_fps"],
            total_frames=record["total_frames"],
        )


SHARD_ASSET = "frame_cache_shard"
SHARDS_FILE = "shards.json"
INDEX_FILE = "index.parquet"


def cache_shard(store, key: str, results: Iterable[tuple[ClipToCache, dict | str]]) -> dict:
    """Write one shard straight into the artifact store, published only once complete."""
    summary: dict = {}
    with store.writer(SHARD_ASSET, key, summary) as folder:
        summary.update(write_shard(folder, results))
    return summary


def shard_files(store, frame_cache_folder: Path) -> list[Path]:
    """Local paths of the shard files a frame-cache artifact points to."""
    return [store.local_path(ref) / SHARD_FILE for ref in shard_refs(store, frame_cache_folder)]


def shard_refs(store, frame_cache_folder: Path) -> list:
    """The shard artifacts a frame-cache artifact points to (its parts: ``ArtifactStore.writer``)."""
    import json

    shards = json.loads((Path(frame_cache_folder) / SHARDS_FILE).read_text())
    return [store.ref(SHARD_ASSET, entry["key"]) for entry in shards]


def open_frame_cache(store, frame_cache_folder: Path) -> FrameCacheReader:
    return FrameCacheReader(shard_files(store, frame_cache_folder))


def expected_frame_counts(catalog_rows: Iterable[dict], sampling: FrameSampling) -> dict[str, int]:
    """fingerprint → the frame count the sampling rule gives each usable clip (images: 1)."""
    return {
        row["fingerprint"]: 1 if row["data_type"] == "image"
        else num_sampled_frames(row["frame_count"], row["fps"], sampling)
        for row in catalog_rows
    }


def index_shards(store, shard_keys: dict[int, str], expected: dict[str, int]) -> tuple[list[dict], list[dict]]:
    """Index rows (clip → shard, with its expected frame count) and the shards' failure rows."""
    index, failures = [], []
    for shard, key in shard_keys.items():
        folder = store.local_path(store.ref(SHARD_ASSET, key))
        table = pq.read_table(folder / SHARD_FILE, columns=["fingerprint", "data_type", "num_frames", "height",
                                                            "width", "sample_fps"])
        for row in table.to_pylist():
            index.append({**row, "shard": shard, "shard_key": key, "expected_frames": expected.get(row["fingerprint"])})
        failures += pq.read_table(folder / FAILURES_FILE).to_pylist()
    return index, failures
