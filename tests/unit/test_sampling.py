"""Frame sampling and resizing, checked against hand-computed qwen-vl-utils results."""

import numpy as np
import pytest

from viss_r1.video.sampling import (
    FrameSampling,
    num_sampled_frames,
    resized_frame_size,
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
