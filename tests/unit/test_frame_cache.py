import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import write_mp4

from viss_r1.data import frame_cache
from viss_r1.data.frame_cache import (
    FAILURES_FILE,
    ROWS_PER_ROW_GROUP,
    SHARD_FILE,
    ClipToCache,
    FrameCacheReader,
    build_shard,
    shard_of,
)
from viss_r1.data.loader import load_pretext_clip
from viss_r1.pretext.transforms import TransformSpec, invert_transform
from viss_r1.video.decode import SampledClip, decode_video
from viss_r1.video.encoding import FrameEncoding
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


def test_a_shard_is_written_a_row_group_at_a_time_as_clips_decode(tmp_path, monkeypatch):
    """Streaming, not collecting: each full row group is written before the next clip decodes,
    so a shard of thousands of clips holds one row group in memory."""
    decoded: list[str] = []
    groups_written_after: list[int] = []

    def fake_decode(file, data_type, sampling):  # a stand-in decoder: 4 flat frames tagged by clip
        decoded.append(file.name)
        shade = int(file.stem.split("_")[1])
        return SampledClip(np.full((4, 56, 56, 3), shade, dtype=np.uint8), np.arange(4), 4.0, 8.0, 32)

    write_table = pq.ParquetWriter.write_table

    def counting_write(self, table, *args, **kwargs):
        if str(self.where).endswith(SHARD_FILE):  # not the failures file
            groups_written_after.append(len(decoded))
        return write_table(self, table, *args, **kwargs)

    monkeypatch.setattr(frame_cache, "decode_media", fake_decode)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", counting_write)
    count = 2 * ROWS_PER_ROW_GROUP + 3
    clips = [ClipToCache(f"{i:024x}", f"clip_{i}.mp4", str(tmp_path), "video") for i in range(count)]
    summary = build_shard(clips, SAMPLING, FrameEncoding(format="png"), tmp_path)

    assert summary["clips"] == count and summary["failures"] == 0
    assert groups_written_after == [ROWS_PER_ROW_GROUP, 2 * ROWS_PER_ROW_GROUP, count]
    metadata = pq.ParquetFile(tmp_path / SHARD_FILE).metadata
    assert metadata.num_row_groups == math.ceil(count / ROWS_PER_ROW_GROUP)
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == [ROWS_PER_ROW_GROUP] * 2 + [3]
    reader = FrameCacheReader([tmp_path / SHARD_FILE])
    assert [int(reader.load(f"{i:024x}").frames[0, 0, 0, 0]) for i in range(count)] == list(range(count))


def test_a_shard_whose_clips_all_fail_is_an_empty_shard_with_its_failures(tmp_path):
    (tmp_path / "bad.mp4").write_text("not a video")
    summary = build_shard([ClipToCache("fb" * 12, "bad.mp4", str(tmp_path), "video")], SAMPLING, FrameEncoding(),
                          tmp_path)
    assert (summary["clips"], summary["failures"]) == (0, 1)
    assert len(FrameCacheReader([tmp_path / SHARD_FILE])) == 0
    (failure,) = pq.read_table(tmp_path / FAILURES_FILE).to_pylist()
    assert failure["reason"].startswith("decode failed: ")


@pytest.fixture
def three_clips(tmp_path):
    clips = []
    for i in range(3):
        write_mp4(tmp_path / f"{i}.mp4", num_frames=24, fps=8, size=(64, 48), seed=i)
        clips.append(ClipToCache(f"{i}" * 24, f"{i}.mp4", str(tmp_path), "video"))
    (tmp_path / "shard").mkdir()
    build_shard(clips, SAMPLING, FrameEncoding(format="png"), tmp_path / "shard")
    return tmp_path / "shard" / SHARD_FILE


def test_a_reader_keeps_the_last_clips_it_decoded_within_its_byte_budget(three_clips, monkeypatch):
    clip_bytes = 12 * 56 * 56 * 3
    reader = FrameCacheReader([three_clips], keep_bytes=int(2.5 * clip_bytes))   # room for two clips
    reads = []
    decode = frame_cache.decode_frames

    def counted(frames):
        reads.append(1)
        return decode(frames)

    monkeypatch.setattr(frame_cache, "decode_frames", counted)
    a, b, c = ("0" * 24, "1" * 24, "2" * 24)
    first = reader.load(a)
    reader.load(b)
    assert reader.load(a) is first and len(reads) == 2   # kept: no second decoding
    reader.load(c)                                       # over budget: b, the least recently used, goes
    assert reader.load(a) is first and len(reads) == 3
    reader.load(b)
    assert len(reads) == 4
    with pytest.raises(ValueError, match="read-only"):
        first.frames[0, 0, 0, 0] = 1                     # kept frames cannot be changed under later loads
    plain = FrameCacheReader([three_clips])
    assert np.array_equal(plain.load(a).frames, first.frames)
    row = {"fingerprint": a, "data_type": "video", "transform_media": "video", "transform_name": "arrow",
           "transform_param": 1}
    loaded = load_pretext_clip(row, reader)
    assert np.array_equal(loaded.frames, load_pretext_clip(row, plain).frames) and loaded.frames.flags.writeable


def test_a_reader_without_a_budget_keeps_nothing_and_a_negative_one_is_refused(three_clips):
    reader = FrameCacheReader([three_clips])
    assert reader.load("0" * 24) is not reader.load("0" * 24) and reader.load("0" * 24).frames.flags.writeable
    with pytest.raises(ValueError, match="keep_bytes -1"):
        FrameCacheReader([three_clips], keep_bytes=-1)
