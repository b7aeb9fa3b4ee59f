"""Peak memory of building one frame-cache shard, by shard size: 50 clips vs 500 clips.

``build_shard`` streams: each row group (``ROWS_PER_ROW_GROUP`` clips of JPEG frames) is written
as soon as it is full, so peak memory should not grow with the shard. Each build runs in a fresh
process and its peak RSS is read from ``wait4``. ``--compare`` also builds the old way (every
row in memory, then one ``write_table``) for the same counts.

The clips are small H.264 files (160×96, 16 s at 8 fps) so generation is quick; sampled at the
Video-R1 training setting they become 32 frames of ≈100k pixels each, like a real clip's row.
The 500-clip shard reuses 50 generated files under distinct fingerprints: every clip is still
decoded, resized and encoded on its own, which is all that memory depends on.

    .venv/bin/python benchmarks/shard_memory.py [--small] [--compare]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _clips import TRAINING_SAMPLING, write_clip  # noqa: E402

from viss_r1.data.frame_cache import (  # noqa: E402
    ROWS_PER_ROW_GROUP,
    SHARD_FILE,
    SHARD_SCHEMA,
    ClipToCache,
    build_shard,
    decode_clip,
)
from viss_r1.video.encoding import FrameEncoding  # noqa: E402

DISTINCT_FILES = 50


def clips_for(media: Path, count: int) -> list[ClipToCache]:
    return [ClipToCache(f"{i:024x}", f"videos/clip_{i % DISTINCT_FILES:03d}.mp4", str(media), "video")
            for i in range(count)]


def build(media: Path, count: int, out: Path, all_in_memory: bool) -> None:
    """One shard of ``count`` clips into ``out`` (run in its own process)."""
    clips = clips_for(media, count)
    if not all_in_memory:
        summary = build_shard(clips, TRAINING_SAMPLING, FrameEncoding(), out)
        assert summary["clips"] == count, summary
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The previous build_shard: every row collected, then written in one call.
    rows = [decode_clip(clip, TRAINING_SAMPLING, FrameEncoding()) for clip in clips]
    pq.write_table(pa.Table.from_pylist(rows, schema=SHARD_SCHEMA), out / SHARD_FILE, row_group_size=ROWS_PER_ROW_GROUP)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of this script re-run with ``args`` in a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, *args])
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"build {args} failed with exit code {process.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20 vs 200 clips")
    parser.add_argument("--compare", action="store_true", help="also build the old all-in-memory way")
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)  # internal: one build in this process
    parser.add_argument("--media", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--all-in-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build is not None:
        build(args.media, args.build, args.out, args.all_in_memory)
        return

    counts = (20, 200) if args.small else (50, 500)
    with tempfile.TemporaryDirectory(prefix="viss_r1_shard_memory_") as tmp:
        media = Path(tmp) / "media"
        started = time.perf_counter()
        for i in range(DISTINCT_FILES):
            write_clip(media / "videos" / f"clip_{i:03d}.mp4", seed=i, seconds=16, size=(160, 96), fps=8)
        print(f"generated {DISTINCT_FILES} clips (160×96, 16 s at 8 fps) in {time.perf_counter() - started:.1f} s")
        ways = [("streamed (build_shard)", False)] + ([("all in memory (old)", True)] if args.compare else [])
        baseline, _ = peak_rss_mb(["--build", "0", "--media", str(media), "--out", tmp])
        print(f"\npeak RSS of a build process, imports and an empty shard: {baseline:.0f} MB")
        for name, all_in_memory in ways:
            peaks = {}
            for count in counts:
                out = Path(tmp) / f"shard_{count}_{all_in_memory}"
                out.mkdir()
                extra = ["--all-in-memory"] if all_in_memory else []
                peaks[count], seconds = peak_rss_mb(["--build", str(count), "--media", str(media), "--out", str(out),
                                                     *extra])
                size = (out / SHARD_FILE).stat().st_size / 1e6
                print(f"  {name:24s} {count:4d} clips: peak RSS {peaks[count]:6.0f} MB  "
                      f"(shard file {size:5.0f} MB, {seconds:5.1f} s)")
            small, large = counts
            print(f"  {name:24s} ratio {large}/{small} clips: {peaks[large] / peaks[small]:.2f}×  "
                  f"(above the empty build: {(peaks[large] - baseline) / max(peaks[small] - baseline, 1):.2f}×)")


if __name__ == "__main__":
    main()
