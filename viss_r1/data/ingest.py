"""Probe media and fill the frame cache in worker processes: the two bulk steps every stage that
reads videos shares (the training data plane and each evaluation benchmark).

Each file's probe and each clip's decode runs isolated, with a timeout, in long-lived worker
processes (``viss_r1.data.isolation``): a decoder that segfaults, aborts or hangs on one corrupt
file costs that file a quarantine row ("decoder crashed (signal SIGSEGV)", "decoder timed out
after 120 s"), never the run. Progress goes to a ``log`` callable, so an asset can stream it to
Dagster and a script can print it.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from viss_r1.artifacts import cache_key, stable_hash
from viss_r1.data.frame_cache import (
    FAILURES_FILE,
    INDEX_FILE,
    SHARD_ASSET,
    SHARDS_FILE,
    ClipToCache,
    cache_shard,
    decode_clip,
    decode_failure,
    expected_frame_counts,
    index_shards,
    shard_of,
)
from viss_r1.data.isolation import Outcome, run_isolated
from viss_r1.data.tables import write_table
from viss_r1.progress import Progress
from viss_r1.video.encoding import FrameEncoding
from viss_r1.video.probe import ALL_CPUS, cpu_workers, probe_row_worker, quarantined
from viss_r1.video.sampling import FrameSampling

Log = Callable[[str], None]

NUM_SHARDS = 16   # stable hash buckets of clip fingerprints; each shard is cached on its own
DECODE_TIMEOUT_S = 120.0   # one file's probe or one clip's decode; past it the decoder is killed
DECODERS = ("decord", "PIL.Image", "pyvips")   # imported by each worker before its first task is timed
# Shard rows are written in clip order, so finished clips wait for a slow one before them; this
# many per worker may wait (≈1 MB each), which bounds memory while a hung decoder runs out its time.
REORDER_WINDOW_PER_WORKER = 4


def probe_files(media: Iterable[dict[str, Any]], min_frames: int, workers: int = ALL_CPUS, log: Log = print, *,
                timeout_s: float = DECODE_TIMEOUT_S, probe: Callable[[tuple], dict] = probe_row_worker,
                media_folder: Callable[[str], str] = str) -> list[dict]:
    """One catalog row per distinct (media_root, path, data_type): probed, fingerprinted, and
    ``status``/``reason`` saying whether it can be used. ``probe``: the per-file function the
    workers run (``probe_row_worker``; tests hand in one that crashes or hangs). ``media_folder``
    finds a media root's folder (``ArtifactStore.media_folder``); rows keep the root as named."""
    media = list(media)
    folders = local_media_folders(media, media_folder)
    jobs = [(folders[m["media_root"]], m["path"], m["data_type"], min_frames) for m in media]
    rows: list[dict] = []
    with closing(run_isolated(probe, [(job,) for job in jobs], cpu_workers(workers), timeout_s,
                              preload=DECODERS)) as outcomes:
        for done, (item, job, outcome) in enumerate(zip(media, jobs, outcomes), 1):
            rows.append({**_probe_row(job, outcome), "media_root": item["media_root"]})
            if done % 200 == 0 or done == len(jobs):
                log(f"probed {done}/{len(jobs)} files")
    return sorted(rows, key=lambda r: (r["media_root"], r["path"]))


def _probe_row(job: tuple, outcome: Outcome) -> dict:
    _, relative, data_type, _ = job
    if outcome.failure:
        return quarantined(relative, data_type, f"decoder {outcome.failure}").as_row()
    if outcome.error:
        return quarantined(relative, data_type, f"probe failed: {outcome.error}").as_row()
    return outcome.value


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


def local_media_folders(rows: Iterable[dict], media_folder: Callable[[str], str]) -> dict[str, str]:
    """Each distinct ``media_root`` of ``rows`` → the folder its files are opened in, found once."""
    return {root: media_folder(root) for root in dict.fromkeys(r["media_root"] for r in rows)}


def plan_shards(catalog: Iterable[dict], num_shards: int, shard_settings: dict, code_version: str
                ) -> tuple[dict[int, list[ClipToCache]], dict[int, str]]:
    """Usable clips (one per fingerprint) bucketed into shards, and each shard's cache key: the
    code, the sampling and encoding, and exactly which clips it holds (never where they are)."""
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
                 code_version: str, workers: int = ALL_CPUS, log: Log = print, *, timeout_s: float = DECODE_TIMEOUT_S,
                 decode: Callable[..., dict] = decode_clip) -> CachedFrames:
    """Decode the shards the store lacks (clips in parallel, each isolated), then index every
    shard of the catalog. A shard already in the store — built by any stage with the same clips
    and settings — is reused. ``decode``: the per-clip function the workers run (``decode_clip``;
    tests hand in one that crashes or hangs)."""
    # The timeout is part of a shard's identity: a clip that timed out is a failure row of its
    # shard, and raising the timeout is how a user asks for such clips to be decoded again.
    shard_settings = {"sampling": sampling.model_dump(exclude={"frame_factor", "size_factor"}),
                      "encoding": encoding.format, "quality": encoding.quality, "decode_timeout_s": timeout_s}
    buckets, keys = plan_shards(catalog, num_shards, shard_settings, code_version)
    missing = [s for s, key in keys.items() if not store.exists(SHARD_ASSET, key)]
    usable = sum(len(b) for b in buckets.values())
    log(f"{usable} clips in {len(keys)} shards; {len(missing)} shard(s) to decode, {len(keys) - len(missing)} reused")
    cached = CachedFrames(shard_keys=keys, shards_decoded=len(missing))
    started = time.perf_counter()
    # Clips of all missing shards go to one pool, shard after shard, so a shard of one clip or
    # of thousands keeps every worker busy; each shard is written as its clips come back.
    # Only clips to decode need their folder (a remote store's media is downloaded for them alone).
    to_decode = [clip for shard in missing for clip in buckets[shard]]
    folders = {root: store.media_folder(root) for root in {clip.media_root for clip in to_decode}}
    tasks = [(replace(clip, media_root=folders[clip.media_root]), sampling, encoding) for clip in to_decode]
    count = cpu_workers(workers)
    progress, failed = Progress(len(missing), "shard", log), 0
    with closing(run_isolated(decode, tasks, count, timeout_s, preload=DECODERS,
                              window=REORDER_WINDOW_PER_WORKER * count)) as outcomes:
        for done, shard in enumerate(missing, 1):
            results = ((clip, _shard_row(next(outcomes))) for clip in buckets[shard])
            result = cache_shard(store, keys[shard], results)
            cached.clips_decoded += result["clips"]
            cached.frames_decoded += result["frames"]
            failed += result["failures"]
            progress.update(done, ("failed clips", failed))
    expected = expected_frame_counts([r for r in catalog if r["status"] == "ok"], sampling)
    cached.index, cached.failures = index_shards(store, keys, expected)
    cached.seconds = time.perf_counter() - started
    return cached


def _shard_row(outcome: Outcome) -> dict | str:
    """A shard row, or the clip's failure reason."""
    if outcome.failure:
        return f"decoder {outcome.failure}"
    if outcome.error:
        return decode_failure(outcome.error)
    return outcome.value


def write_frame_index(folder: Path, cached: CachedFrames) -> None:
    """A frame-cache artifact's files: the clip index, the decode failures and the shard keys
    (``open_frame_cache`` / ``shard_files`` read them back)."""
    write_table(cached.index, folder / INDEX_FILE, "clip_index")
    write_table(cached.failures, folder / FAILURES_FILE, "clip_failures")
    (folder / SHARDS_FILE).write_text(json.dumps([{"shard": s, "key": k} for s, k in cached.shard_keys.items()],
                                                 indent=2))
