"""Probe media and fill the frame cache in worker processes: the two bulk steps every stage that
reads videos shares (the training data plane and each evaluation benchmark).

Both run in ``spawn`` process pools (decord is not fork-safe) and report progress through a
``log`` callable, so an asset can stream it to Dagster and a script can print it.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from viss_r1.artifacts import cache_key, stable_hash
from viss_r1.data.frame_cache import (
    FAILURES_FILE,
    INDEX_FILE,
    SHARD_ASSET,
    SHARDS_FILE,
    ClipToCache,
    FrameEncoding,
    cache_shard,
    expected_frame_counts,
    index_shards,
    shard_of,
)
from viss_r1.data.tables import write_table
from viss_r1.video.probe import cpu_workers, probe_row_worker
from viss_r1.video.sampling import FrameSampling

Log = Callable[[str], None]


def probe_files(media: Iterable[dict[str, Any]], min_frames: int, workers: int = 0, log: Log = print) -> list[dict]:
    """One catalog row per distinct (media_root, path, data_type): probed, fingerprinted, and
    ``status``/``reason`` saying whether it can be used."""
    jobs = [(m["media_root"], m["path"], m["data_type"], min_frames) for m in media]
    rows: list[dict] = []
    if not jobs:
        return rows
    with ProcessPoolExecutor(max_workers=min(cpu_workers(workers), len(jobs)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(probe_row_worker, job): job for job in jobs}
        for done, future in enumerate(as_completed(futures), 1):
            rows.append({**future.result(), "media_root": futures[future][0]})
            if done % 200 == 0 or done == len(jobs):
                log(f"probed {done}/{len(jobs)} files")
    return sorted(rows, key=lambda r: (r["media_root"], r["path"]))


@dataclass
class CachedFrames:
    """What the frame cache holds for a catalog: shard keys, the clip index, decode failures."""

    shard_keys: dict[int, str]
    index: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    shards_decoded: int = 0
    clips_decoded: int = 0
    frames_decoded: int = 0
    seconds: float = 0.0

    @property
    def clips_per_second(self) -> float:
        return round(self.clips_decoded / self.seconds, 2) if self.clips_decoded and self.seconds else 0.0


def plan_shards(catalog: Iterable[dict], num_shards: int, shard_settings: dict, code_version: str
                ) -> tuple[dict[int, list[ClipToCache]], dict[int, str]]:
    """Usable clips (one per fingerprint) bucketed into shards, and each shard's cache key: the
    code, the sampling and encoding, and exactly which clips it holds."""
    buckets: dict[int, list[ClipToCache]] = {}
    seen: set[str] = set()
    for row in catalog:
        if row["status"] != "ok" or row["fingerprint"] in seen:
            continue
        seen.add(row["fingerprint"])
        clip = ClipToCache(row["fingerprint"], row["path"], row["media_root"], row["data_type"])
        buckets.setdefault(shard_of(clip.fingerprint, num_shards), []).append(clip)
    keys = {shard: cache_key(code_version, shard_settings, {"clips": stable_hash(sorted(c.fingerprint for c in members))})
            for shard, members in sorted(buckets.items())}
    return buckets, keys


def cache_frames(store, catalog: list[dict], sampling: FrameSampling, encoding: FrameEncoding, num_shards: int,
                 code_version: str, workers: int = 0, log: Log = print) -> CachedFrames:
    """Decode the shards the store lacks (in parallel), then index every shard of the catalog.
    A shard already in the store — built by any stage with the same clips and settings — is reused."""
    shard_settings = {"sampling": {k: v for k, v in vars(sampling).items() if k not in ("frame_factor", "size_factor")},
                      "encoding": encoding.format, "quality": encoding.quality}
    buckets, keys = plan_shards(catalog, num_shards, shard_settings, code_version)
    missing = [s for s, key in keys.items() if not store.exists(SHARD_ASSET, key)]
    usable = sum(len(b) for b in buckets.values())
    log(f"{usable} clips in {len(keys)} shards; {len(missing)} shard(s) to decode, {len(keys) - len(missing)} reused")
    cached = CachedFrames(shard_keys=keys, shards_decoded=len(missing))
    started = time.perf_counter()
    if missing:
        with ProcessPoolExecutor(max_workers=min(cpu_workers(workers), len(missing)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(cache_shard, store, keys[s], buckets[s], sampling, encoding): s for s in missing}
            for done, future in enumerate(as_completed(futures), 1):
                result = future.result()
                cached.clips_decoded += result["clips"]
                cached.frames_decoded += result["frames"]
                log(f"shard {futures[future]} done ({done}/{len(missing)}): {result['clips']} clips, "
                    f"{result['failures']} failed")
    expected = expected_frame_counts([r for r in catalog if r["status"] == "ok"], sampling)
    cached.index, cached.failures = index_shards(store, keys, expected)
    cached.seconds = time.perf_counter() - started
    return cached


def write_frame_index(folder: Path, cached: CachedFrames) -> None:
    """A frame-cache artifact's files: the clip index, the decode failures and the shard keys
    (``open_frame_cache`` / ``shard_files`` read them back)."""
    write_table(cached.index, folder / INDEX_FILE, "clip_index")
    write_table(cached.failures, folder / FAILURES_FILE, "clip_failures")
    (folder / SHARDS_FILE).write_text(json.dumps([{"shard": s, "key": k} for s, k in cached.shard_keys.items()],
                                                 indent=2))
