"""Shared benchmark helpers: realistic H.264 clips made on the spot, and timing.

The clips stand in for Video-R1's training videos: 640×360 at 30 fps, a textured background
panning like a hand-held camera, a few moving shapes, and sensor-like noise, so the encoder
cannot reduce a frame to a handful of skip blocks (a flat synthetic clip decodes unrealistically
fast and would flatter any decode-vs-cache comparison). x264 preset "veryfast" keeps generation
cheap while keeping CABAC, B-frames and the deblocking filter that real videos make the decoder do.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import numpy as np

from viss_r1.data.frame_cache import ClipToCache
from viss_r1.video.probe import fingerprint
from viss_r1.video.sampling import FrameSampling

# Video-R1's training setting: 2 fps, at most 32 frames, 128·28·28 pixels per frame.
TRAINING_SAMPLING = FrameSampling(fps=2.0, min_frames=4, max_frames=32,
                                  min_pixels=128 * 28 * 28, max_pixels=128 * 28 * 28)

WIDTH, HEIGHT, FPS = 640, 360, 30
SECONDS = 20          # ≥ 16 s, so 2 fps sampling reaches the 32-frame cap
GOP = 2 * FPS         # a keyframe every 2 s, common for camera and web video
NOISE_FRAMES = 16     # noise fields cycled over the clip (drawing fresh noise per frame is slow)


def write_clip(path: Path, seed: int, seconds: int = SECONDS, size: tuple[int, int] = (WIDTH, HEIGHT),
               fps: int = FPS, preset: str = "veryfast") -> Path:
    width, height = size
    rng = np.random.default_rng(seed)
    # Background twice the frame size: low-frequency colour blobs plus fine texture, panned over.
    bh, bw = 2 * height, 2 * width
    coarse = rng.integers(0, 256, size=(bh // 40 + 1, bw // 40 + 1, 3), dtype=np.uint8)
    background = np.kron(coarse, np.ones((40, 40, 1), dtype=np.uint8))[:bh, :bw].astype(np.int16)
    background += rng.integers(-25, 26, size=background.shape, dtype=np.int16)
    noise = rng.integers(-6, 7, size=(NOISE_FRAMES, height, width, 3), dtype=np.int16)
    shapes = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-6, 6), rng.uniform(-4, 4),
               int(rng.integers(20, 70)), rng.integers(0, 256, size=3)) for _ in range(5)]

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = GOP
        stream.codec_context.options = {"preset": preset, "crf": "23", "threads": "2"}
        for t in range(seconds * fps):
            x0 = int((width / 2) * (1 + np.sin(t / 90)))   # slow pan, like a moving camera
            y0 = int((height / 2) * (1 + np.cos(t / 130)))
            frame = background[y0:y0 + height, x0:x0 + width] + noise[t % NOISE_FRAMES]
            for x, y, dx, dy, side, colour in shapes:
                cx, cy = int(x + dx * t) % width, int(y + dy * t) % height
                frame[cy:cy + side, cx:cx + side] = colour
            image = av.VideoFrame.from_ndarray(np.clip(frame, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_clips(folder: Path, count: int, seconds: int = SECONDS) -> list[ClipToCache]:
    """``count`` clips under ``folder/videos`` as frame-cache inputs (fingerprinted like the catalog)."""
    started = time.perf_counter()
    clips = []
    for i in range(count):
        file = write_clip(folder / "videos" / f"clip_{i:03d}.mp4", seed=i, seconds=seconds)
        clips.append(ClipToCache(fingerprint(file), f"videos/{file.name}", str(folder), "video"))
    size_mb = sum((folder / c.path).stat().st_size for c in clips) / 1e6
    print(f"generated {count} clips ({WIDTH}×{HEIGHT}, {seconds} s at {FPS} fps, H.264, "
          f"{size_mb / count:.1f} MB each) in {time.perf_counter() - started:.1f} s")
    return clips


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def median_ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def small_flag(description: str) -> bool:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", action="store_true", help="a ~20-second version")
    return parser.parse_args().small
