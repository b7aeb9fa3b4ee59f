import numpy as np
import pytest
from conftest import write_mp4

from viss_r1.data.frame_cache import (
    ClipToCache,
    FrameCacheReader,
    FrameEncoding,
    build_shard,
    shard_of,
    SHARD_FILE,
)
from viss_r1.data.loader import load_pretext_clip
from viss_r1.pretext.transforms import TransformSpec, invert_transform
from viss_r1.video.decode import decode_video
from viss_r1.video.sampling import FrameSampling

SAMPLING = FrameSampling(fps=4.0, min_frames=4, max_frames=16, min_pixels=56 * 56, max_pixels=112 * 112)


@pytest.fixture
def shard(tmp_path):
    write_mp4(tmp_path / "a.mp4", num_frames=24, fps=8, size=(64, 48))
    (tmp_path / "bad.mp4").write_text("not a video")
    clips = [ClipToCache("fa" * 12, "a.mp4", str(tmp_path), "video"),
             ClipToCache("fb" * 12, "bad.mp4", str(tmp_path), "video")]
    out = tmp_path / "shard"
    out.mkdir()
    summary = build_shard(clips, SAMPLING, FrameEncoding(format="png"), out)
    return tmp_path, out, summary


def test_shard_stores_sampled_frames_with_timing_and_records_failures(shard):
    root, out, summary = shard
    assert summary["clips"] == 1 and summary["failures"] == 1 and summary["frames"] == 12
    reader = FrameCacheReader([out / SHARD_FILE])
    clip = reader.load("fa" * 12)
    # 24 frames at 8 fps = 3 s; 4 fps wants 12 frames, within [4, 16]
    assert clip.frame_indices.tolist() == np.linspace(0, 23, 12).round().astype(int).tolist()
    assert clip.sample_fps == pytest.approx(4.0)
    assert clip.frames.shape == (12, 56, 56, 3)  # 48×64 → smart_resize → 56×56
    # PNG is lossless: the cache returns exactly what decoding on the fly gives
    assert np.array_equal(clip.frames, decode_video(root / "a.mp4", SAMPLING).frames)
    with pytest.raises(KeyError, match="not in the frame cache"):
        reader.load("fb" * 12)


def test_loader_transforms_on_load_and_keeps_presentation_timing(shard):
    _, out, _ = shard
    reader = FrameCacheReader([out / SHARD_FILE])
    row = {"fingerprint": "fa" * 12, "data_type": "video", "transform_media": "video",
           "transform_name": "arrow", "transform_param": 1}
    clip = load_pretext_clip(row, reader)
    original = load_pretext_clip(row, reader, transform=False)
    assert clip.spec == TransformSpec.of("video", "arrow", 1)
    assert clip.frames.shape == (12, 3, 56, 56)
    assert np.array_equal(clip.frames, original.frames[::-1])
    assert np.array_equal(invert_transform(clip.frames, clip.spec), original.frames)
    metadata = clip.video_metadata
    assert metadata["fps"] == pytest.approx(8.0) and metadata["total_num_frames"] == 24
    assert metadata["frames_indices"] == sorted(metadata["frames_indices"])  # never reveals the reversal


def test_shards_are_stable_buckets():
    assert shard_of("00000000000a" + "0" * 12, 16) == 10
    assert shard_of("ffffffffffff", 7) == 0xFFFFFFFFFFFF % 7
