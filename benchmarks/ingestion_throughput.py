"""Ingestion throughput: the pipeline's ``build_shard`` vs a raw decord read of the same frames.

Ours: decode the sampled frames (decord get_batch), resize them the qwen-vl-utils way (libvips
cubic when shrinking, ``viss_r1.video.resize``), JPEG-encode them and write the Parquet shard. Raw: ``VideoReader(...).get_batch(indices)`` of the same
indices on the same files, nothing else. Both single process, decord with one thread. Goal:
ours/raw ≥ 0.8×, i.e. everything past decoding costs at most a quarter of decoding. A breakdown
of where ours spends its time (each step re-run on its own with the library's functions) follows,
then our resize vs PIL's and vs the convention's own (torchvision): time and pixel difference.

    .venv/bin/python benchmarks/ingestion_throughput.py [--small]
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _clips import TRAINING_SAMPLING, make_clips, small_flag, timed  # noqa: E402

from decord import VideoReader, cpu  # noqa: E402

from viss_r1.data.frame_cache import SHARD_SCHEMA, build_shard  # noqa: E402
from viss_r1.video.encoding import FrameEncoding, encode_frame  # noqa: E402
from viss_r1.video.resize import resize_frames  # noqa: E402
from viss_r1.video.sampling import sample_frame_indices  # noqa: E402

GOAL = 0.8


def raw_read(files: list[Path]) -> list:
    """What a bare decoder does: open, pick the sampled indices, one batched read."""
    batches = []
    for file in files:
        reader = VideoReader(str(file), ctx=cpu(0), num_threads=1)
        indices, _ = sample_frame_indices(len(reader), float(reader.get_avg_fps()), TRAINING_SAMPLING)
        batches.append(reader.get_batch(indices.tolist()).asnumpy())
    return batches


def breakdown(files: list[Path], encoding: FrameEncoding) -> dict[str, float]:
    """Seconds per step of build_shard, each step timed on its own."""
    steps = {"decode (decord get_batch)": 0.0, "resize (libvips cubic)": 0.0, "JPEG encode": 0.0, "Parquet write": 0.0}
    encoded = []
    for file in files:
        seconds, (frames,) = timed(raw_read, [file])
        steps["decode (decord get_batch)"] += seconds
        seconds, resized = timed(resize_frames, frames, TRAINING_SAMPLING)
        steps["resize (libvips cubic)"] += seconds
        seconds, jpegs = timed(lambda: [encode_frame(frame, encoding) for frame in resized])
        steps["JPEG encode"] += seconds
        encoded.append(jpegs)
    rows = [{"fingerprint": str(i), "data_type": "video", "frame_indices": [], "sample_fps": 0.0, "video_fps": 0.0,
             "total_frames": 0, "num_frames": len(j), "height": 0, "width": 0, "frames": j} for i, j in enumerate(encoded)]
    started = time.perf_counter()
    pq.write_table(pa.Table.from_pylist(rows, schema=SHARD_SCHEMA), io.BytesIO(), row_group_size=8)
    steps["Parquet write"] = time.perf_counter() - started
    return steps


def resize_vs_reference(file: Path) -> dict[str, tuple[float, float, int]]:
    """Resizing one clip's sampled frames, one thread each: ours (libvips), PIL's bicubic and the
    convention's own (qwen-vl-utils: torchvision bicubic with antialias on the uint8 tensor).
    Per resizer: (ms, mean and max absolute pixel difference from the convention's)."""
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    from viss_r1.video.sampling import resized_frame_size

    torch.set_num_threads(1)
    (frames,) = raw_read([file])
    height, width = resized_frame_size(*frames.shape[1:3], TRAINING_SAMPLING)
    reference_seconds, reference = timed(lambda: TF.resize(
        torch.from_numpy(frames).permute(0, 3, 1, 2), [height, width],
        interpolation=InterpolationMode.BICUBIC, antialias=True).permute(0, 2, 3, 1).numpy())
    resizers = {
        "ours (libvips cubic)": lambda: resize_frames(frames, TRAINING_SAMPLING),
        "PIL bicubic": lambda: np.stack([np.asarray(Image.fromarray(frame).resize(
            (width, height), Image.Resampling.BICUBIC)) for frame in frames]),
    }
    results = {"torchvision (the convention)": (1000 * reference_seconds, 0.0, 0)}
    for name, resize in resizers.items():
        resize()  # warm-up: the first libvips call loads the library
        seconds, resized = timed(resize)
        difference = np.abs(resized.astype(np.int16) - reference.astype(np.int16))
        results[name] = (1000 * seconds, float(difference.mean()), int(difference.max()))
    return results


def resize_at_higher_resolutions() -> dict[str, tuple[float, float]]:
    """Ours vs PIL's bicubic on 32 frames of 720p and of 1080p (blocky noise frames; the
    resize cost depends on the sizes, not the content): {resolution: (ours ms, PIL ms)}."""
    import numpy as np
    from PIL import Image

    from viss_r1.video.sampling import resized_frame_size

    results = {}
    for height, width in [(720, 1280), (1080, 1920)]:
        rng = np.random.default_rng(0)
        frames = np.kron(rng.integers(0, 256, size=(32, height // 8, width // 8, 3), dtype=np.uint8),
                         np.ones((1, 8, 8, 1), dtype=np.uint8))
        new_h, new_w = resized_frame_size(height, width, TRAINING_SAMPLING)
        ours, _ = timed(resize_frames, frames, TRAINING_SAMPLING)
        pil, _ = timed(lambda: [Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.BICUBIC)
                                for frame in frames])
        results[f"{height}p"] = (1000 * ours, 1000 * pil)
    return results


def main() -> None:
    small = small_flag(__doc__.splitlines()[0])
    num_clips, repeats = (2, 1) if small else (8, 3)
    encoding = FrameEncoding()
    with tempfile.TemporaryDirectory(prefix="viss_r1_bench_") as tmp:
        root = Path(tmp)
        clips = make_clips(root / "media", num_clips)
        files = [root / "media" / clip.path for clip in clips]
        raw_times, ours_times = [], []
        for repeat in range(repeats):  # alternate, so neither side gets a warmer machine
            raw_times.append(timed(raw_read, files)[0])
            out = root / f"shard_{repeat}"
            out.mkdir()
            seconds, summary = timed(build_shard, clips, TRAINING_SAMPLING, encoding, out)
            ours_times.append(seconds)
        assert summary["clips"] == num_clips, summary
        steps = breakdown(files, encoding)
        resizers = resize_vs_reference(files[0])
        higher = resize_at_higher_resolutions()

    frames = summary["frames"]
    raw, ours = statistics.median(raw_times), statistics.median(ours_times)
    print(f"\n{num_clips} clips, {frames} sampled frames, median of {repeats} run(s), single process:")
    print(f"  raw decord get_batch:                          {frames / raw:6.1f} frames/s  {num_clips / raw:5.2f} clips/s")
    print(f"  ours build_shard (decode+resize+JPEG+Parquet): {frames / ours:6.1f} frames/s  {num_clips / ours:5.2f} clips/s")
    ratio = raw / ours
    print(f"  ratio ours/raw: {ratio:.2f}×  (goal ≥ {GOAL}×: {'met' if ratio >= GOAL else 'MISSED'})")
    total = sum(steps.values())
    print(f"\nwhere build_shard's time goes (steps re-run separately, {1000 * total / num_clips:.0f} ms per clip):")
    for name, seconds in steps.items():
        print(f"  {name:28s} {1000 * seconds / num_clips:7.1f} ms/clip  {100 * seconds / total:5.1f} %")
    print(f"\nresizing one clip's {frames // num_clips} frames, one thread (pixel difference from the convention's, of 255):")
    for name, (ms, mean_difference, max_difference) in resizers.items():
        print(f"  {name:30s} {ms:6.1f} ms  mean {mean_difference:.2f}  max {max_difference}")
    for resolution, (ours_ms, pil_ms) in higher.items():
        print(f"  32 frames at {resolution}: ours {ours_ms:.1f} ms vs PIL {pil_ms:.1f} ms ({pil_ms / ours_ms:.1f}× faster)")

if __name__ == "__main__":
    main()
