"""Frame sampling and resizing against qwen-vl-utils itself (PyPI 0.0.14), over grids of frame
counts, frame rates and frame sizes, in both of its modes (fps and nframes); and against the
release's edited copy of it, whose differences are facts copied by hand below.

Where we differ from PyPI on purpose:
- fps mode, a clip shorter than min_frames: qwen-vl-utils samples what there is; we refuse it
  (the probe quarantines it as too short first).
- num_frames mode, a clip shorter than num_frames: qwen-vl-utils' ``nframes`` raises; we give all
  its frames (floored to even), which is what the release runs (its edited constants below make
  fps mode ask ``min(32, total)``).
- resize: a side floored to 0 by qwen-vl-utils is one patch (28) here, as in transformers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from qwen_vl_utils import vision_process

from viss_r1.video import sampling as ours
from viss_r1.video.decode import decode_image
from viss_r1.video.sampling import FrameSampling, num_sampled_frames, sample_frame_indices, smart_resize

CONFIGS = Path(__file__).resolve().parents[2] / "infra" / "configs"
TOTALS = range(1, 401)
VIDEO_FPS = range(1, 61)
FACTOR = 28

# The release's edited copy (src/qwen-vl-utils/src/qwen_vl_utils/vision_process.py of ViSS-R1),
# read by hand: images MIN_PIXELS / MAX_PIXELS; video frames VIDEO_MIN_PIXELS / VIDEO_MAX_PIXELS
# (the evaluation block is live, the training block commented out above it); FPS 2.0 with
# FPS_MIN_FRAMES = FPS_MAX_FRAMES = 32 ("16 32 64" noted beside it). Its callers (sft_video.py,
# grpo_trainer_pretext.py, eval_bench_ssl_parallel.py) pass no fps/nframes for a video.
RELEASE = {
    "image_pixels": (4 * 28 * 28, 256 * 28 * 28),
    "video_pixels_eval": (128 * 28 * 28, 256 * 28 * 28),
    "video_pixels_train": (128 * 28 * 28, 128 * 28 * 28),
    "fps": 2.0,
    "fps_min_frames": 32,
    "fps_max_frames": 32,
}
# PyPI's defaults where the release edited them: images 4..16384 patches, video 128..768
# patches per frame, 4..768 frames.
PYPI_DEFAULTS = {"image_tokens": (4, 16384), "video_tokens": (128, 768), "fps_min_frames": 4, "fps_max_frames": 768}


@pytest.fixture(autouse=True)
def quiet_qwen_vl_utils():
    """qwen-vl-utils logs a warning whenever fps asks for more frames than there are."""
    logger = logging.getLogger(vision_process.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def theirs_nframes(ele: dict, total: int, fps: float) -> int | None:
    try:
        return vision_process.smart_nframes(ele, total_frames=total, video_fps=fps)
    except ValueError:
        return None


def ours_nframes(total: int, fps: float, sampling: FrameSampling) -> int | None:
    try:
        return num_sampled_frames(total, fps, sampling)
    except ValueError:
        return None


@pytest.mark.parametrize("fps,min_frames,max_frames", [
    (2.0, 4, 32),     # Video-R1's data file
    (2.0, 4, 16),     # Video-R1's own training
    (4.0, 4, 16),     # the embedded run
    (1.0, 4, 768),    # PyPI's defaults at 1 fps
    (0.5, 2, 7),      # odd max: floored
    (2.0, 32, 32),    # the release's constants, fps mode
])
def test_fps_mode_equals_smart_nframes(fps, min_frames, max_frames):
    sampling = FrameSampling(fps=fps, min_frames=min_frames, max_frames=max_frames, num_frames=None)
    assert sampling.fewest_frames == min_frames   # what the probe must quarantine below
    ele = {"fps": fps, "min_frames": min_frames, "max_frames": max_frames}
    compared = 0
    for total in TOTALS:
        for video_fps in VIDEO_FPS:
            mine = ours_nframes(total, video_fps, sampling)
            if total < sampling.fewest_frames:
                assert mine is None   # refused: the probe quarantines a clip this short
                continue
            assert mine == theirs_nframes(ele, total, video_fps), (total, video_fps)
            compared += 1
    assert compared == (len(TOTALS) - (min_frames - 1)) * len(VIDEO_FPS)


@pytest.mark.parametrize("num_frames", [2, 3, 15, 16, 31, 32, 33, 64])
def test_num_frames_mode_equals_smart_nframes_with_nframes(num_frames):
    """Where qwen-vl-utils' ``nframes`` can sample (the clip has the frames), the same count;
    where it raises (a shorter clip), all the clip's frames floored to even — what the release's
    constants give in fps mode with min = max = the count."""
    sampling = FrameSampling(num_frames=num_frames)
    asked = vision_process.round_by_factor(num_frames, vision_process.FRAME_FACTOR)
    shorter = 0
    for total in TOTALS:
        for video_fps in VIDEO_FPS:
            mine = ours_nframes(total, video_fps, sampling)
            theirs = theirs_nframes({"nframes": num_frames}, total, video_fps)
            if total >= asked:
                assert mine == theirs == asked, (total, video_fps)
                continue
            assert theirs is None
            shorter += 1
            as_release = theirs_nframes({"fps": RELEASE["fps"], "min_frames": asked, "max_frames": asked},
                                        total, video_fps)
            assert mine == as_release == (total // 2 * 2 or None), (total, video_fps)
    assert shorter == (asked - 1) * len(VIDEO_FPS)


def test_indices_equal_qwen_vl_utils_linspace():
    """qwen-vl-utils takes ``torch.linspace(0, total - 1, n).round()`` (float32); ours numpy's
    float64: the same indices on every count of the grid, in both modes."""
    for sampling in (FrameSampling(), FrameSampling(num_frames=32), FrameSampling(num_frames=16)):
        for total in TOTALS:
            for video_fps in (1, 24, 30, 60):
                if ours_nframes(total, video_fps, sampling) is None:
                    continue
                indices, sample_fps = sample_frame_indices(total, video_fps, sampling)
                theirs = torch.linspace(0, total - 1, len(indices)).round().long().tolist()
                assert indices.tolist() == theirs, (total, video_fps)
                assert sample_fps == len(indices) / max(total, 1e-6) * video_fps


SIDES = [1, 2, 5, 8, 13, 14, 16, 27, 28, 29, 42, 48, 55, 56, 57, 64, 84, 99, 100, 112, 140, 144, 200, 224, 240,
         320, 333, 360, 480, 500, 576, 640, 720, 1000, 1080, 1280, 1600, 1920, 2160, 2800, 3840, 4000]
BUDGETS = [(56 * 56, 112 * 112),                      # the embedded run
           (128 * 28 * 28, 128 * 28 * 28),            # video training
           (128 * 28 * 28, 256 * 28 * 28),            # video evaluation
           (4 * 28 * 28, 256 * 28 * 28),              # images, the release
           (4 * 28 * 28, 16384 * 28 * 28)]            # images, PyPI


def test_smart_resize_equals_qwen_vl_utils_with_each_side_at_least_one_patch():
    clamped = []
    for min_pixels, max_pixels in BUDGETS:
        for height in SIDES:
            for width in SIDES:
                if max(height, width) / min(height, width) > ours.MAX_ASPECT_RATIO:
                    with pytest.raises(ValueError, match="aspect ratio"):
                        smart_resize(height, width, FACTOR, min_pixels, max_pixels)
                    with pytest.raises(ValueError, match="aspect ratio"):
                        vision_process.smart_resize(height, width, FACTOR, min_pixels, max_pixels)
                    continue
                theirs = vision_process.smart_resize(height, width, FACTOR, min_pixels, max_pixels)
                mine = smart_resize(height, width, FACTOR, min_pixels, max_pixels)
                assert mine == (max(FACTOR, theirs[0]), max(FACTOR, theirs[1])), (height, width, min_pixels)
                if mine != theirs:
                    clamped.append((height, width, min_pixels, max_pixels))
    # Only frames of extreme aspect, shrunk by a tight budget, have a side floored to 0 there:
    # 1600×16 under the embedded run's, 4000×28 under video training's (a valid clip of the data
    # the release would fail to resize).
    assert (16, 1600, 56 * 56, 112 * 112) in clamped and (1600, 16, 56 * 56, 112 * 112) in clamped
    assert (28, 4000, 128 * 28 * 28, 128 * 28 * 28) in clamped
    assert {(b_min, b_max) for _, _, b_min, b_max in clamped} == {(56 * 56, 112 * 112), (128 * 28 * 28, 128 * 28 * 28)}
    assert vision_process.smart_resize(16, 1600, FACTOR, 56 * 56, 112 * 112) == (0, 1120)
    assert smart_resize(16, 1600, FACTOR, 56 * 56, 112 * 112) == (28, 1120)
    assert vision_process.smart_resize(28, 4000, FACTOR, 128 * 28 * 28, 128 * 28 * 28) == (0, 3780)
    assert smart_resize(28, 4000, FACTOR, 128 * 28 * 28, 128 * 28 * 28) == (28, 3780)


@pytest.mark.parametrize("size", [(800, 600), (3000, 20), (20, 20), (2000, 1500)])
def test_image_is_resized_as_fetch_image_with_the_release_bounds(tmp_path, size):
    """decode_image with the release's image bounds = qwen-vl-utils' fetch_image given them."""
    width, height = size
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))
    image.save(tmp_path / "a.png")
    low, high = RELEASE["image_pixels"]
    sampling = FrameSampling(image_min_pixels=low, image_max_pixels=high)
    clip = decode_image(tmp_path / "a.png", sampling)
    fetched = vision_process.fetch_image({"image": image, "min_pixels": low, "max_pixels": high})
    assert clip.frames.shape == (1, fetched.height, fetched.width, 3)


# The release's count, worked out by hand from its smart_nframes with its constants (fps mode,
# min_frames 32, max_frames min(32, total)): (total frames, video fps) → frames sampled.
RELEASE_COUNTS = {
    (1, 30.0): None,   # floor_by_factor(1, 2) = 0 < FRAME_FACTOR: ValueError
    (2, 30.0): 2,
    (3, 30.0): 2,      # max_frames = floor(min(32, 3)) = 2
    (10, 30.0): 10,    # a third of a second: all 10 frames, none repeated
    (11, 30.0): 10,
    (31, 30.0): 30,
    (32, 30.0): 32,
    (45, 1.0): 32,     # 45 s at 2 fps wants 90: capped at 32
    (1000, 30.0): 32,  # 33 s at 2 fps wants 66.7: capped at 32
    (1000, 1000.0): 32,  # 1 s at 2 fps wants 2: raised to 32
}


@pytest.mark.parametrize("clip,expected", list(RELEASE_COUNTS.items()))
def test_release_edited_copy_counts_by_hand(clip, expected):
    total, video_fps = clip
    release_ele = {"fps": RELEASE["fps"], "min_frames": RELEASE["fps_min_frames"],
                   "max_frames": min(RELEASE["fps_max_frames"], total)}
    assert theirs_nframes(release_ele, total, video_fps) == expected
    assert ours_nframes(total, video_fps, FrameSampling(num_frames=32)) == expected


def test_release_edited_copy_indices_by_hand():
    assert sample_frame_indices(10, 30.0, FrameSampling(num_frames=32))[0].tolist() == list(range(10))
    # linspace(0, 10, 10) = 0, 1.11, 2.22, 3.33, 4.44, 5.56, 6.67, 7.78, 8.89, 10: frame 5 is skipped.
    assert sample_frame_indices(11, 30.0, FrameSampling(num_frames=32))[0].tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    indices, sample_fps = sample_frame_indices(1000, 30.0, FrameSampling(num_frames=32))
    assert len(indices) == 32 and indices[0] == 0 and indices[-1] == 999 and len(set(indices.tolist())) == 32
    assert sample_fps == pytest.approx(0.96)


def read_run_config(*names: str) -> dict:
    """The run config Dagster gets from several -c files: dictionaries merged key by key."""
    def merge(base: dict, extra: dict) -> dict:
        return {**base, **{k: merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                           for k, v in extra.items()}}
    config: dict = {}
    for name in names:
        config = merge(config, yaml.safe_load((CONFIGS / name).read_text()))
    return config


def test_7b_configs_sample_as_the_release_not_as_pypi():
    """The release edited the library's constants; PyPI's differ (images 64× more pixels, video
    3×, 4..768 frames by fps). The 7B configs carry the release's: 32 frames (16 in
    Pretext-GRPO) whatever the clip, images at 4..256 patches, video at the stage's budget."""
    from assets.configs import BenchmarkConfig, FrameCacheConfig, check_data_plane_min_frames

    assert (vision_process.IMAGE_MIN_TOKEN_NUM, vision_process.IMAGE_MAX_TOKEN_NUM) == PYPI_DEFAULTS["image_tokens"]
    assert (vision_process.VIDEO_MIN_TOKEN_NUM, vision_process.VIDEO_MAX_TOKEN_NUM) == PYPI_DEFAULTS["video_tokens"]
    assert (vision_process.FPS_MIN_FRAMES, vision_process.FPS_MAX_FRAMES) == (PYPI_DEFAULTS["fps_min_frames"],
                                                                              PYPI_DEFAULTS["fps_max_frames"])
    assert (vision_process.FPS, vision_process.FRAME_FACTOR) == (RELEASE["fps"], 2)

    stages = {("viss_r1_qwen2_5_vl_7b.yaml",): (32, RELEASE["video_pixels_train"]),
              ("video_r1_data.yaml",): (32, RELEASE["video_pixels_train"]),
              ("video_r1_data.yaml", "pretext_grpo_qwen2_5_vl_7b.yaml"): (16, RELEASE["video_pixels_train"])}
    for files, (frames, video_pixels) in stages.items():
        run_config = read_run_config(*files)
        check_data_plane_min_frames(run_config)   # the catalog keeps every clip sampling needs
        sampling = FrameCacheConfig(**run_config["ops"]["frame_cache"]["config"]).sampling.to_library()
        assert sampling.num_frames == frames, files
        assert (sampling.min_pixels, sampling.max_pixels) == video_pixels, files
        assert sampling.image_pixel_bounds == RELEASE["image_pixels"], files

    benchmarks = read_run_config("benchmarks_7b.yaml")["ops"]
    assert len(benchmarks) == 6
    for name, entry in benchmarks.items():
        config = BenchmarkConfig(**entry["config"])
        sampling = config.sampling.to_library()
        assert sampling.num_frames == 32, name
        assert (sampling.min_pixels, sampling.max_pixels) == RELEASE["video_pixels_eval"], name
        assert sampling.image_pixel_bounds == RELEASE["image_pixels"], name
        # A video shorter than 32 frames is evaluated on all of them, as the release does; only
        # one of fewer frames than a temporal patch is counted missing.
        assert config.min_frames == sampling.fewest_frames == 2, name
