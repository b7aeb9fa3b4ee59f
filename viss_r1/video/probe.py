"""Probe media files before anything is decoded in bulk: one row per file, with a reason
when the file cannot be used (DESIGN.md "Data": bad inputs go to quarantine, never dropped)."""

from __future__ import annotations

import hashlib
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


def probe_media(media_root: Path, relative: str, data_type: str, min_frames: int) -> MediaProbe:
    probe = MediaProbe(relative, data_type, "quarantined", "", "", 0, 0, 0.0, 0.0, 0, 0)
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
    """Process-pool entry point (top-level so it pickles)."""
    media_root, relative, data_type, min_frames = args
    return probe_media(Path(media_root), relative, data_type, min_frames).as_row()


def cpu_workers(requested: int) -> int:
    return max(1, requested if requested > 0 else (os.cpu_count() or 1))
