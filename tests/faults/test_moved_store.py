"""A state folder moved or copied elsewhere keeps every artifact: nothing is trained, scored or
decoded again. The embedded run's clips are an artifact of the store itself (the synthetic set),
so a cache key that held their folder changed with the move and everything downstream of the
data plane was rebuilt; records now name that media by its artifact. Training and evaluation run
through test_publish's stand-in launcher, so the test costs the small data plane."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from asset_runs import metadata
from faults.test_publish import EVALUATION, TRAINING, launches, materialize  # noqa: F401  (launches: a fixture)

from viss_r1.artifacts import ARTIFACT_MEDIA, ArtifactStore

EVERY_STAGE = list(dict.fromkeys(TRAINING + EVALUATION))


def keys(result) -> dict[str, tuple[str, bool]]:
    return {name: (metadata(result, name.replace("/", "__"))["cache_key"],
                   metadata(result, name.replace("/", "__"))["reused"]) for name in EVERY_STAGE}


def test_a_copied_state_folder_reuses_every_artifact_and_reads_no_file_of_the_old_one(
        isolated_state, tmp_path, monkeypatch, launches):  # noqa: F811
    first = keys(materialize(EVERY_STAGE))
    assert not any(reused for _, reused in first.values())
    trained = list(launches)

    # Copied (every mtime new), then the original removed: a cache key or a record that still
    # pointed into it would rebuild, or fail to find its files.
    moved = tmp_path / "elsewhere" / "state"
    shutil.copytree(isolated_state, moved)
    shutil.rmtree(isolated_state)
    monkeypatch.setenv("VISS_R1_STATE_DIR", str(moved))
    monkeypatch.setenv("DAGSTER_HOME", str(moved / "dagster_home"))

    second = keys(materialize(EVERY_STAGE))
    assert launches == trained                                  # nothing trained or scored again
    assert second == {name: (key, True) for name, (key, _) in first.items()}

    (records_file,) = (moved / "artifacts" / "video_sources").glob("*/records.parquet")
    roots = set(pl.read_parquet(records_file)["media_root"])
    (synthetic_set,) = (moved / "artifacts" / "synthetic_videos").iterdir()
    assert roots == {f"{ARTIFACT_MEDIA}synthetic_videos/{synthetic_set.name}"}   # named, not a folder


def test_media_named_by_an_artifact_resolve_in_the_store_that_holds_it(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    with store.writer("synthetic_videos", "k1", {}) as folder:
        (folder / "videos").mkdir()
    assert store.media_folder(f"{ARTIFACT_MEDIA}synthetic_videos/k1") == str(tmp_path / "store" / "synthetic_videos" / "k1")
    assert store.media_folder("/data/Video-R1") == "/data/Video-R1"   # a path names itself
    for unknown in (f"{ARTIFACT_MEDIA}synthetic_videos/k2", f"{ARTIFACT_MEDIA}synthetic_videos", ARTIFACT_MEDIA):
        with pytest.raises(FileNotFoundError, match="no such artifact in the store"):
            store.media_folder(unknown)


def test_a_copy_of_the_state_cut_short_rebuilds_exactly_the_damaged_artifacts(
        isolated_state, tmp_path, monkeypatch, launches, capfd):  # noqa: F811
    """A copy (cp, rsync) interrupted part-way leaves manifests beside files cut short: those
    artifacts looked complete and were reused until a stage crashed deep in reading them. Each file's
    size is in its manifest now, so exactly the damaged ones are built again, under the same keys,
    and nothing downstream of them is."""
    first = keys(materialize(EVERY_STAGE))
    trained = list(launches)
    copy = tmp_path / "copy" / "state"
    shutil.copytree(isolated_state, copy)
    monkeypatch.setenv("VISS_R1_STATE_DIR", str(copy))
    monkeypatch.setenv("DAGSTER_HOME", str(copy / "dagster_home"))
    (weights,) = (copy / "artifacts" / "sft_model").glob("*/model/model.safetensors")
    weights.write_bytes(weights.read_bytes()[:3])
    shard = sorted((copy / "artifacts" / "frame_cache_shard").glob("*/*.parquet"))[0]
    shard_bytes = shard.read_bytes()
    shard.write_bytes(shard_bytes[: len(shard_bytes) // 2])

    second = keys(materialize(EVERY_STAGE))
    assert launches == trained + ["viss_r1.train.sft"]          # only the damaged model is trained again
    assert second == {name: (key, name not in ("frame_cache", "sft_model")) for name, (key, _) in first.items()}
    assert shard.read_bytes() == shard_bytes and weights.read_bytes() == b"weights"
    step_log = capfd.readouterr().err                           # Dagster's console log
    assert f"sft_model: artifact {first['sft_model'][0]} is damaged (model/model.safetensors is 3 bytes, 7 when " \
           "published): building it again in its place" in step_log
    assert f"frame_cache: artifact {first['frame_cache'][0]} is damaged (its part frame_cache_shard/" in step_log
