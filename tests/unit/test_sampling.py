"""Frame sampling and resizing, checked against hand-computed qwen-vl-utils results."""

import numpy as np
import pytest

from viss_r1.video.sampling import (
    FrameSampling,
    num_sampled_frames,
    resized_frame_size,
    resized_image_size,
    sample_frame_indices,
    smart_resize,
)

RECIPE = FrameSampling()  # 2 fps, 4..32 frames, 128·28·28 px


def test_ten_second_clip_gives_twenty_frames():
    # 300 frames / 30 fps × 2 fps = 20, inside [4, 32], already even.
    indices, sample_fps = sample_frame_indices(300, 30.0, RECIPE)
    assert len(indices) == 20
    assert indices.dtype == np.int64
    assert indices.tolist() == np.linspace(0, 299, 20).round().astype(int).tolist()
    assert indices[0] == 0 and indices[-1] == 299
    assert sample_fps == pytest.approx(2.0)


def test_long_clip_is_capped_at_max_frames():
    # 100 s × 2 fps = 200 → max_frames 32; sampled fps = 32 / 3000 × 30 = 0.32.
    indices, sample_fps = sample_frame_indices(3000, 30.0, RECIPE)
    assert len(indices) == 32
    assert sample_fps == pytest.approx(0.32)


def test_short_clip_is_raised_to_min_frames():
    # 1 s at 10 fps → 2 frames wanted, raised to min_frames 4.
    assert num_sampled_frames(10, 10.0, RECIPE) == 4


def test_odd_counts_are_floored_to_even():
    # 3.5 s at 30 fps: 105 frames → 7 wanted → 6.
    assert num_sampled_frames(105, 30.0, RECIPE) == 6
    # max_frames 15 floors to 14. A 5-frame video at 1 fps wants 10, capped by max_frames = floor(5) = 4.
    assert num_sampled_frames(3000, 30.0, FrameSampling(max_frames=15)) == 14
    assert num_sampled_frames(5, 1.0, RECIPE) == 4


def test_too_short_video_is_an_error():
    with pytest.raises(ValueError, match="3 frames.*4 \\(min_frames\\)"):
        num_sampled_frames(3, 30.0, RECIPE)
    with pytest.raises(ValueError, match="fps"):
        num_sampled_frames(100, 0.0, RECIPE)


def test_embedded_synthetic_clip():
    # 32 frames at 8 fps, sampled at 4 fps → 16 frames.
    assert num_sampled_frames(32, 8.0, FrameSampling(fps=4.0, max_frames=16)) == 16


def test_smart_resize_360p_at_the_video_r1_budget():
    # round(360/28)=13 → 364, round(640/28)=23 → 644; 364·644 = 234416 > 100352, so shrink:
    # beta = sqrt(360·640 / 100352) = 1.5152; 360/beta = 237.6 → floor to 28 → 224;
    # 640/beta = 422.4 → 420. (224·420 = 94080 ends below min_pixels: qwen checks only once.)
    assert smart_resize(360, 640, 28, 128 * 28 * 28, 128 * 28 * 28) == (224, 420)
    assert resized_frame_size(360, 640, RECIPE) == (224, 420)


def test_smart_resize_small_frames():
    # 64×64 with [56², 112²]: round(64/28)=2 → 56×56 = 3136, inside the range: 56×56.
    assert smart_resize(64, 64, 28, 56 * 56, 112 * 112) == (56, 56)
    # 30×40: 28×28 = 784 < 3136 → beta = sqrt(3136/1200) = 1.6166; 48.5 → 56, 64.7 → 84.
    assert smart_resize(30, 40, 28, 56 * 56, 112 * 112) == (56, 84)
    # Already a multiple of 28 inside the range: kept.
    assert smart_resize(112, 84, 28, 56 * 56, 112 * 112) == (112, 84)


def test_smart_resize_rounds_halves_to_even_like_python():
    # 70/28 = 2.5 → round → 2 (56); 98/28 = 3.5 → 4 (112).
    assert smart_resize(70, 98, 28, 1, 10**8) == (56, 112)


def test_smart_resize_rejects_extreme_aspect_ratios():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2010)


@pytest.mark.parametrize("kwargs,message", [
    ({"fps": 0}, "fps must be positive"),
    ({"min_frames": 8, "max_frames": 4}, "min_frames 8 > max_frames 4"),
    ({"min_pixels": 200, "max_pixels": 100}, "min_pixels 200 > max_pixels 100"),
    ({"size_factor": 0}, "size_factor must be positive"),
])
def test_sampling_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrameSampling(**kwargs)


# ---- num_frames: a fixed count whatever the clip (the release's 32 / 16) ------------------------

FIXED = FrameSampling(num_frames=32)


@pytest.mark.parametrize("total,video_fps", [(3000, 30.0), (300, 30.0), (64, 1.0), (32, 240.0)])
def test_num_frames_takes_that_many_whatever_the_length_or_fps(total, video_fps):
    indices, sample_fps = sample_frame_indices(total, video_fps, FIXED)
    assert indices.tolist() == np.linspace(0, total - 1, 32).round().astype(int).tolist()
    assert indices[0] == 0 and indices[-1] == total - 1
    assert sample_fps == pytest.approx(32 / total * video_fps)


def test_num_frames_wins_over_fps_min_and_max():
    # fps mode would give 20 (10 s at 2 fps); min/max 4..16 would cap it at 16.
    assert num_sampled_frames(300, 30.0, FrameSampling(num_frames=32, min_frames=4, max_frames=16)) == 32
    assert num_sampled_frames(300, 30.0, FrameSampling(num_frames=None)) == 20


def test_num_frames_on_a_shorter_clip_takes_all_its_frames_floored_to_even():
    assert sample_frame_indices(7, 30.0, FIXED)[0].tolist() == [0, 1, 2, 4, 5, 6]   # linspace(0, 6, 6)
    assert sample_frame_indices(2, 30.0, FIXED)[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"video has 1 frames, need ≥ 2 \(frame_factor\) to sample num_frames 32"):
        num_sampled_frames(1, 30.0, FIXED)


def test_num_frames_rounds_to_the_frame_factor_like_nframes():
    # round(15/2) = round(7.5) = 8 (half to even) → 16; round(17/2) = round(8.5) = 8 → 16.
    assert num_sampled_frames(100, 30.0, FrameSampling(num_frames=15)) == 16
    assert num_sampled_frames(100, 30.0, FrameSampling(num_frames=17)) == 16


def test_fewest_frames_is_min_frames_or_one_temporal_patch():
    assert FrameSampling(min_frames=4).fewest_frames == 4
    assert FrameSampling(min_frames=4, num_frames=32).fewest_frames == 2


def test_image_pixel_bounds_default_to_the_video_frames():
    assert RECIPE.image_pixel_bounds == (RECIPE.min_pixels, RECIPE.max_pixels)
    both = FrameSampling(image_min_pixels=4 * 28 * 28, image_max_pixels=256 * 28 * 28)
    assert both.image_pixel_bounds == (3136, 200704)
    assert FrameSampling(image_max_pixels=256 * 28 * 28).image_pixel_bounds == (128 * 28 * 28, 200704)
    # 480×640: a video frame at 128·28·28: beta = sqrt(307200/100352) = 1.7496 → 274.3, 365.8 →
    # 252×364; an image at up to 256·28·28: beta = sqrt(307200/200704) = 1.2372 → 388.0, 517.3 → 364×504.
    assert resized_frame_size(480, 640, both) == (252, 364)
    assert resized_image_size(480, 640, both) == (364, 504)


def test_smart_resize_keeps_each_side_at_least_one_patch():
    # 1600×16 (aspect 100) at [56², 112²]: 28×1596 > 12544 → beta = sqrt(25600/12544) = 1.4286;
    # 16/beta = 11.2 floors to 0 → one patch, 28; 1600/beta = 1120.
    assert smart_resize(16, 1600, 28, 56 * 56, 112 * 112) == (28, 1120)
    assert smart_resize(1600, 16, 28, 56 * 56, 112 * 112) == (1120, 28)


@pytest.mark.parametrize("kwargs,message", [
    ({"num_frames": 0}, "num_frames must be positive or None, got 0"),
    ({"num_frames": 1}, r"num_frames 1 rounds to 0 frames; ask for at least 2 \(frame_factor\)"),
    ({"image_max_pixels": 0}, "image_max_pixels must be positive or None"),
    ({"image_min_pixels": 200_000}, r"image pixel bounds 200000 > 100352"),
])
def test_new_sampling_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrameSampling(**kwargs)


# ---- through the frame cache: new settings key the shards; the count check agrees ---------------

def test_frame_cache_keys_on_the_new_settings_and_expects_the_num_frames_count(tmp_path):
    from conftest import write_mp4

    from viss_r1.artifacts import ArtifactStore
    from viss_r1.data.ingest import cache_frames, probe_files
    from viss_r1.video.encoding import FrameEncoding

    write_mp4(tmp_path / "media" / "short.mp4", num_frames=10, fps=8)   # fewer frames than asked
    write_mp4(tmp_path / "media" / "long.mp4", num_frames=40, fps=8, seed=1)
    media = [{"media_root": str(tmp_path / "media"), "path": name, "data_type": "video"}
             for name in ("short.mp4", "long.mp4")]
    base = FrameSampling(fps=4.0, min_frames=4, max_frames=16, min_pixels=56 * 56, max_pixels=112 * 112)
    variants = {"fps": base, "num_frames": FrameSampling(**{**vars(base), "num_frames": 16}),
                "image_bounds": FrameSampling(**{**vars(base), "image_max_pixels": 56 * 56})}
    catalog = probe_files(media, variants["num_frames"].fewest_frames, workers=1, log=lambda _: None)
    assert [row["status"] for row in catalog] == ["ok", "ok"]
    store = ArtifactStore(str(tmp_path / "store"))
    cached = {name: cache_frames(store, catalog, sampling, FrameEncoding(), 1, "test", workers=1, log=lambda _: None)
              for name, sampling in variants.items()}
    keys = {name: c.shard_keys[next(iter(c.shard_keys))] for name, c in cached.items()}
    assert len(set(keys.values())) == 3   # each setting its own shards, none reused across them
    counts = {name: {row["fingerprint"]: (row["num_frames"], row["expected_frames"]) for row in c.index}
              for name, c in cached.items()}
    by_path = {row["path"]: row["fingerprint"] for row in catalog}
    # fps mode: 10 frames at 8 fps × 4 fps = 5 → 4; 40 frames = 5 s → 20 → capped at 16.
    assert counts["fps"] == {by_path["short.mp4"]: (4, 4), by_path["long.mp4"]: (16, 16)}
    # num_frames 16: the short clip gives all its 10 frames (what frame_count_matches_sampling compares).
    assert counts["num_frames"] == {by_path["short.mp4"]: (10, 10), by_path["long.mp4"]: (16, 16)}
