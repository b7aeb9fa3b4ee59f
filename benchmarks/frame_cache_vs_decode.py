"""Loading a 32-frame training clip from the frame cache vs decoding it from mp4 on the fly.

On the fly is what Video-R1 does in its data loader: decord VideoReader, get_batch of the
linspace indices, resize to the smart_resize size (here ``viss_r1.video.decode.decode_video``).
The cache stores those resized frames once as JPEG in Parquet; a load reads one row group and
decodes the JPEGs. Goal: the cache is ≥ 10× faster.

    .venv/bin/python benchmarks/frame_cache_vs_decode.py [--small]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _clips import TRAINING_SAMPLING, make_clips, median_ms, small_flag, timed  # noqa: E402

from viss_r1.data.frame_cache import SHARD_FILE, FrameCacheReader, build_shard  # noqa: E402
from viss_r1.video.decode import decode_video  # noqa: E402
from viss_r1.video.encoding import FrameEncoding  # noqa: E402

GOAL = 10.0


def main() -> None:
    small = small_flag(__doc__.splitlines()[0])
    num_clips, repeats = (2, 3) if small else (8, 5)
    with tempfile.TemporaryDirectory(prefix="viss_r1_bench_") as tmp:
        root = Path(tmp)
        clips = make_clips(root / "media", num_clips)
        (root / "shard").mkdir()
        build_seconds, summary = timed(build_shard, clips, TRAINING_SAMPLING, FrameEncoding(), root / "shard")
        shard = root / "shard" / SHARD_FILE
        print(f"built the frame cache in {build_seconds:.1f} s: {summary['clips']} clips, {summary['frames']} frames, "
              f"{shard.stat().st_size / 1e6:.1f} MB")

        reader = FrameCacheReader([shard])
        decode_times, load_times, errors = [], [], []
        for _ in range(repeats):
            for clip in clips:
                seconds, decoded = timed(decode_video, root / "media" / clip.path, TRAINING_SAMPLING)
                decode_times.append(seconds)
                seconds, cached = timed(reader.load, clip.fingerprint)
                load_times.append(seconds)
                assert cached.frames.shape == decoded.frames.shape, (cached.frames.shape, decoded.frames.shape)
                errors.append(np.abs(cached.frames.astype(np.int16) - decoded.frames).mean())

    t, h, w = decoded.frames.shape[:3]
    decode_ms, load_ms = median_ms(decode_times), median_ms(load_times)
    print(f"\nper training clip ({t} frames of {h}×{w}), median of {len(load_times)} loads "
          f"({num_clips} clips × {repeats} repeats):")
    print(f"  decode from mp4 (decord + resize):  {decode_ms:8.1f} ms")
    print(f"  load from frame cache (Parquet+JPEG): {load_ms:6.1f} ms")
    print(f"  speed-up: {decode_ms / load_ms:.1f}×  (goal ≥ {GOAL:.0f}×: {'met' if decode_ms / load_ms >= GOAL else 'MISSED'})")
    print(f"  mean abs pixel difference cache vs decode (JPEG q95): {np.mean(errors):.2f} / 255")


if __name__ == "__main__":
    main()
