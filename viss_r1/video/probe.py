"""Probe media files before anything is decoded in bulk: one row per file, with a reason
when the file cannot be used (DESIGN.md "Data": bad inputs go to quarantine, never dropped)."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FINGERPRINT_CHUNK = 1 << 20  # bytes hashed from each end of the file


@dataclass
class MediaProbe:
    path: str            # normalised relative path (the join key with records)
    data_type: str       # video | image
    status: str          # ok | quarantined
    reason: str
    fingerprint: str
    size_bytes: int
    frame_count: int
    fps: float
    duration_s: float
    width: int
    height: int

    def as_row(self) -> dict:
        return asdict(self)


def resolve_inside(media_root: Path, relative: str) -> Path | None:
    """The absolute file for ``relative``, or None when it would escape ``media_root``."""
    root = Path(media_root).resolve()
    candidate = (root / relative).resolve()
    return candidate if candidate == root or root in candidate.parents else None


def fingerprint(path: Path) -> str:
    """Content fingerprint from the size and both ends of the file: re-encodes and edits change
    it, a copy or a move does not, and a 50 GB corpus is not read twice to compute it."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_CHUNK))
        if size > 2 * FINGERPRINT_CHUNK:
            handle.seek(size - FINGERPRINT_CHUNK)
            digest.update(handle.read(FINGERPRINT_CHUNK))
    return digest.hexdigest()[:24]


def quarantined(relative: str, data_type: str, reason: str) -> MediaProbe:
    return MediaProbe(relative, data_type, "quarantined", reason, "", 0, 0, 0.0, 0.0, 0, 0)


def probe_media(media_root: Path, relative: str, data_type: str, min_frames: int) -> MediaProbe:
    probe = quarantined(relative, data_type, "")
    file = resolve_inside(media_root, relative)
    if file is None:
        probe.reason = f"path {relative!r} escapes the media root {media_root}"
        return probe
    if not file.is_file():
        probe.reason = f"file not found: {file}"
        return probe
    probe.size_bytes = file.stat().st_size
    if probe.size_bytes == 0:
        probe.reason = "zero-byte file"
        return probe
    probe.fingerprint = fingerprint(file)
    try:
        _probe_image(file, probe) if data_type == "image" else _probe_video(file, probe)
    except Exception as error:  # decoders raise many types; each becomes a reason, not a crash
        probe.reason = f"unreadable {data_type}: {type(error).__name__}: {str(error).strip()[:300]}"
        return probe
    if data_type == "video" and probe.frame_count < min_frames:
        probe.reason = f"{probe.frame_count} decodable frame(s), need >= {min_frames} (min_frames)"
        return probe
    probe.status = "ok"
    return probe


def _probe_video(file: Path, probe: MediaProbe) -> None:
    from decord import VideoReader, cpu

    reader = VideoReader(str(file), ctx=cpu(0), num_threads=1)
    count = len(reader)
    if count == 0:
        raise ValueError("no video frames")
    fps = float(reader.get_avg_fps())
    if not fps > 0:
        raise ValueError(f"invalid frame rate {fps}")
    # Decoding the last frame catches files truncated after their header was written.
    last = reader.get_batch([count - 1]).asnumpy()
    probe.frame_count, probe.fps = count, fps
    probe.duration_s = count / fps
    probe.height, probe.width = int(last.shape[1]), int(last.shape[2])


def _probe_image(file: Path, probe: MediaProbe) -> None:
    from PIL import Image

    with Image.open(file) as image:
        image.load()  # full decode: a truncated image fails here
        probe.width, probe.height = image.size
    probe.frame_count, probe.fps, probe.duration_s = 1, 0.0, 0.0


def probe_row_worker(args: tuple[str, str, str, int]) -> dict:
    """A worker's per-file entry point (top-level, so a spawned worker can import it by name)."""
    media_root, relative, data_type, min_frames = args
    return probe_media(Path(media_root), relative, data_type, min_frames).as_row()


CGROUP_ROOT = Path("/sys/fs/cgroup")


ALL_CPUS = 0   # a worker count meaning one worker process per CPU this process may use


def cpu_workers(requested: int, cgroup_root: Path = CGROUP_ROOT) -> int:
    """``requested`` worker processes, or (0) one per CPU this process may use."""
    return requested if requested > 0 else usable_cpus(cgroup_root)


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on: its affinity mask (taskset, Kubernetes cpusets), capped by
    its cgroup's CPU quota (``docker --cpus``, Kubernetes limits). ``os.cpu_count()`` counts the
    host's cores: in a 2-CPU container on a 64-core node it would start 64 decoders that the
    quota then throttles."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        # Rounded down: 1.5 CPUs of quota run 1 worker at full speed rather than 2 throttled.
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of quota (quota / period), or None when unlimited or not found. In a container
    the process's own cgroup is mounted at the root (cgroup namespace)."""
    root = Path(cgroup_root)
    v2 = root / "cpu.max"  # cgroup v2: "<quota> <period>" or "max <period>"
    if v2.is_file():
        quota, _, period = v2.read_text().strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100_000)
    for folder in (root / "cpu", root / "cpu,cpuacct", root):  # cgroup v1 controller mounts
        quota_file, period_file = folder / "cpu.cfs_quota_us", folder / "cpu.cfs_period_us"
        if quota_file.is_file() and period_file.is_file():
            quota = int(quota_file.read_text())
            return None if quota <= 0 else quota / int(period_file.read_text())  # -1: unlimited
    return None
