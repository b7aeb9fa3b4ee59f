"""Frame resizing against the convention's own resize (qwen-vl-utils: torchvision, bicubic,
antialias=True on the uint8 tensor), for shrinking (libvips), enlarging (PIL) and mixed sizes."""

import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from viss_r1.video.resize import resize_frames
from viss_r1.video.sampling import FrameSampling, resized_frame_size


def natural_frames(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Colour blocks, a smooth gradient and sensor noise: edges and texture like a real frame."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(num_frames, height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    frames = np.kron(blocks, np.ones((1, 8, 8, 1), dtype=np.float32))[:, :height, :width]
    frames += np.linspace(-40, 40, width, dtype=np.float32)[None, None, :, None]
    frames += rng.normal(0, 8, size=frames.shape).astype(np.float32)
    return np.clip(frames, 0, 255).astype(np.uint8)


def convention_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2)
    resized = TF.resize(tensor, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return resized.permute(0, 2, 3, 1).numpy()


def budget(pixels: int) -> FrameSampling:
    return FrameSampling(min_pixels=pixels, max_pixels=pixels)


@pytest.mark.parametrize("height, width, pixels", [
    (360, 640, 128 * 28 * 28),    # Video-R1 training: 360p → 224×420
    (1080, 1920, 256 * 28 * 28),  # evaluation budget on full HD: a 4.3× shrink
    (224, 460, 224 * 448),        # only the width shrinks (460 → 448)
    (57, 29, 28 * 56),            # a tiny odd-sized image → 56×28
])
def test_shrinking_matches_the_convention(height, width, pixels):
    frames = natural_frames(3, height, width)
    new_h, new_w = resized_frame_size(height, width, budget(pixels))
    assert new_h <= height and new_w <= width and (new_h, new_w) != (height, width)
    ours = resize_frames(frames, budget(pixels))
    assert ours.shape == (3, new_h, new_w, 3) and ours.dtype == np.uint8
    difference = np.abs(ours.astype(np.int16) - convention_resize(frames, new_h, new_w))
    assert difference.mean() < 0.4, difference.mean()   # rounding only; PIL's own is ≈0.2
    assert difference.max() <= 16


@pytest.mark.parametrize("height, width, pixels", [
    (72, 128, 308 * 560),   # both sides grow
    (60, 300, 84 * 336),    # the height grows, the width shrinks
])
def test_enlarging_and_mixed_sizes_match_the_convention(height, width, pixels):
    frames = natural_frames(2, height, width, seed=1)
    new_h, new_w = resized_frame_size(height, width, budget(pixels))
    assert new_h > height
    ours = resize_frames(frames, budget(pixels))
    assert ours.shape == (2, new_h, new_w, 3)
    difference = np.abs(ours.astype(np.int16) - convention_resize(frames, new_h, new_w))
    assert difference.mean() < 0.4, difference.mean()
    assert difference.max() <= 24


def test_frames_already_at_size_come_back_unchanged():
    frames = natural_frames(2, 224, 420)
    ours = resize_frames(frames, budget(224 * 420))
    np.testing.assert_array_equal(ours, frames)


def test_resized_frames_are_writable_arrays_of_their_own():
    frames = natural_frames(2, 360, 640)
    ours = resize_frames(frames, budget(128 * 28 * 28))
    assert ours.flags.writeable and ours.flags.c_contiguous
    ours[0, 0, 0] = 0  # the transforms and the JPEG encoder may write into it


def test_libvips_runs_on_one_thread_per_process():
    # ingestion runs one decode worker per core; libvips' own threads would oversubscribe them
    import pyvips

    resize_frames(natural_frames(1, 360, 640), budget(128 * 28 * 28))
    assert pyvips.concurrency_get() == 1


# ---- through the decoders: extreme aspect ratios, images at their own pixel bounds --------------

def test_a_1600x16_clip_decodes_to_one_patch_high_frames(tmp_path):
    """Aspect ratio 100 is valid (the limit is 200): under the embedded budget the short side
    floors to 0 in qwen-vl-utils' arithmetic; it is one 28-px patch here, as in transformers."""
    from conftest import write_mp4

    from viss_r1.embedded import EMBEDDED_SAMPLING
    from viss_r1.video.decode import decode_video

    file = write_mp4(tmp_path / "wide.mp4", num_frames=8, fps=8, size=(1600, 16))
    clip = decode_video(file, EMBEDDED_SAMPLING)
    # 1 s at 4 fps → 4 frames; 28×1596 > 112² → beta = sqrt(25600/12544): 16 → 28 (one patch), 1600 → 1120.
    assert clip.frames.shape == (4, 28, 1120, 3)
    assert clip.frame_indices.tolist() == [0, 2, 5, 7]
    bright = clip.frames.mean(axis=(1, 3))   # the bar sweeps right: its column moves with time
    assert bright.argmax(axis=1).tolist() == sorted(bright.argmax(axis=1).tolist())
    assert bright.argmax(axis=1)[0] < bright.argmax(axis=1)[-1]


def test_an_image_uses_the_image_bounds_and_a_video_the_video_bounds(tmp_path):
    from conftest import write_mp4
    from PIL import Image

    from viss_r1.video.decode import decode_media

    sampling = FrameSampling(min_pixels=128 * 28 * 28, max_pixels=128 * 28 * 28,
                             image_min_pixels=4 * 28 * 28, image_max_pixels=256 * 28 * 28, num_frames=16)
    Image.fromarray(natural_frames(1, 480, 640)[0]).save(tmp_path / "photo.png")
    write_mp4(tmp_path / "clip.mp4", num_frames=24, fps=8, size=(640, 480))
    image = decode_media(tmp_path / "photo.png", "image", sampling)
    video = decode_media(tmp_path / "clip.mp4", "video", sampling)
    # 480×640 within 256·28·28: beta = sqrt(307200/200704) = 1.2372 → 364×504 (183,456 px).
    assert image.frames.shape == (1, 364, 504, 3)
    # the same size at 128·28·28: beta = sqrt(307200/100352) = 1.7496 → 252×364 (91,728 px).
    assert video.frames.shape == (16, 252, 364, 3)
    # Unset, the image bounds are the video frames': the embedded run's images are unchanged.
    same = decode_media(tmp_path / "photo.png", "image", FrameSampling(min_pixels=128 * 28 * 28, max_pixels=128 * 28 * 28))
    assert same.frames.shape == (1, 252, 364, 3)
