import errno
import os
import shutil
from pathlib import Path

import pytest

from viss_r1.artifacts import MANIFEST, ArtifactStore, _replace_dir, cache_key, place_tree
from viss_r1.code_versions import code_version


def test_cache_key_depends_on_code_config_and_inputs():
    base = cache_key("v1", {"fps": 2.0}, {"up": "k1"})
    assert base == cache_key("v1", {"fps": 2.0}, {"up": "k1"})
    assert len({base, cache_key("v2", {"fps": 2.0}, {"up": "k1"}), cache_key("v1", {"fps": 4.0}, {"up": "k1"}),
                cache_key("v1", {"fps": 2.0}, {"up": "k2"})}) == 4


def test_code_version_changes_with_package_versions():
    assert code_version("viss_r1.artifacts") != code_version("viss_r1.artifacts", packages=("polars",))


@pytest.mark.parametrize("root_kind", ["local", "memory"])
def test_write_publish_and_read_back(tmp_path, root_kind):
    root = str(tmp_path / "store") if root_kind == "local" else f"memory://viss-r1-test-{tmp_path.name}"
    store = ArtifactStore(root, local_cache=str(tmp_path / "cache"))
    assert not store.exists("stage", "k1")
    summary = {}
    with store.writer("stage", "k1", summary) as folder:
        (folder / "sub").mkdir()
        (folder / "sub" / "table.txt").write_text("rows")
        summary["rows"] = 1
    assert store.exists("stage", "k1")
    manifest = store.manifest("stage", "k1")
    assert manifest["summary"] == {"rows": 1} and manifest["files"] == ["sub/table.txt"]
    local = store.local_path(store.ref("stage", "k1"))
    assert (local / "sub" / "table.txt").read_text() == "rows"
    if root_kind == "memory":
        assert store.ref("stage", "k1").uri.startswith("memory://")


def test_a_crashed_writer_leaves_no_artifact_that_looks_complete(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    with pytest.raises(RuntimeError):
        with store.writer("stage", "k1", {}) as folder:
            (folder / "half.txt").write_text("half")
            raise RuntimeError("killed mid-write")
    assert not store.exists("stage", "k1")
    assert not (tmp_path / "store" / "stage" / "k1").exists()
    assert list((tmp_path / "store" / "stage").iterdir()) == []  # the staging folder is gone too


def test_a_complete_artifact_is_never_replaced_but_debris_is(tmp_path):
    target = tmp_path / "stage" / "k1"
    target.mkdir(parents=True)
    (target / "data.txt").write_text("first")
    (target / MANIFEST).write_text("{}")
    inode = (target / "data.txt").stat().st_ino
    staging = tmp_path / "stage" / ".tmp-k1-second"
    staging.mkdir()
    (staging / "data.txt").write_text("second")
    assert _replace_dir(staging, target) is False                   # theirs stays, ours is dropped
    assert (target / "data.txt").stat().st_ino == inode and (target / "data.txt").read_text() == "first"
    assert not staging.exists()

    (target / MANIFEST).unlink()                                    # now debris of a crashed writer
    staging.mkdir()
    (staging / "data.txt").write_text("second")
    assert _replace_dir(staging, target) is True
    assert (target / "data.txt").read_text() == "second"
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["k1"]   # no debris left aside


@pytest.mark.parametrize("root_kind", ["local", "memory"])
def test_a_second_writer_of_a_published_key_keeps_the_first_artifact(tmp_path, root_kind):
    root = str(tmp_path / "store") if root_kind == "local" else f"memory://viss-r1-test-{tmp_path.name}"
    store = ArtifactStore(root, local_cache=str(tmp_path / "cache"))
    for writer in ("first", "second"):
        kept = []
        with store.writer("stage", "k1", {"writer": writer}, on_existing=kept.append) as folder:
            (folder / "data.txt").write_text(writer)
    assert [manifest["summary"] for manifest in kept] == [{"writer": "first"}]   # the second was told
    assert store.manifest("stage", "k1")["summary"] == {"writer": "first"}
    assert store.fs.cat_file(f"{store.root}/stage/k1/data.txt") == b"first"   # data not overwritten either


def a_model_folder(root: Path) -> Path:
    source = root / "final"
    (source / "tokenizer").mkdir(parents=True)
    (source / "model.safetensors").write_bytes(b"w" * 1000)
    (source / "tokenizer" / "vocab.json").write_text("{}")
    return source


def refuse_links(monkeypatch, code: int, why: str) -> None:
    def refused(*args):
        raise OSError(code, why)

    monkeypatch.setattr(os, "link", refused)


def test_place_tree_links_the_files_on_one_file_system_and_copies_no_byte(tmp_path, monkeypatch):
    source = a_model_folder(tmp_path)
    monkeypatch.setattr(shutil, "copy2", lambda *args: pytest.fail("copied on one file system"))
    place_tree(source, tmp_path / "staging" / "model")
    placed = tmp_path / "staging" / "model" / "model.safetensors"
    assert placed.stat().st_ino == (source / "model.safetensors").stat().st_ino
    assert (tmp_path / "staging" / "model" / "tokenizer" / "vocab.json").read_text() == "{}"
    shutil.rmtree(tmp_path / "staging")                 # a failed publish drops its staging folder…
    assert (source / "model.safetensors").read_bytes() == b"w" * 1000   # …and the finished run stays


def test_place_tree_copies_where_links_are_refused(tmp_path, monkeypatch):
    source = a_model_folder(tmp_path)
    refuse_links(monkeypatch, errno.EPERM, "hard links not supported")
    place_tree(source, tmp_path / "model")
    placed = tmp_path / "model" / "model.safetensors"
    assert placed.read_bytes() == b"w" * 1000 and placed.stat().st_ino != (source / "model.safetensors").stat().st_ino


def test_place_tree_onto_a_full_disk_says_what_it_needs_before_copying(tmp_path, monkeypatch):
    source = a_model_folder(tmp_path)
    refuse_links(monkeypatch, errno.EXDEV, "another file system")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    with pytest.raises(OSError, match=r"no room to copy 2 files into .*model: 0.00 GB to copy, 0.00 GB free") as error:
        place_tree(source, tmp_path / "model")
    assert error.value.errno == errno.ENOSPC
    assert not (tmp_path / "model" / "model.safetensors").exists()   # nothing half copied


def test_a_disk_that_fills_during_the_copy_is_a_clear_enospc(tmp_path, monkeypatch):
    source = a_model_folder(tmp_path)
    refuse_links(monkeypatch, errno.EXDEV, "another file system")

    def disk_full(source_file, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", disk_full)
    with pytest.raises(OSError, match=r"the disk filled while copying .*model.safetensors") as error:
        place_tree(source, tmp_path / "model")
    assert error.value.errno == errno.ENOSPC


def published(store: ArtifactStore, writer: str = "first") -> None:
    with store.writer("stage", "k1", {"writer": writer}) as folder:
        (folder / "sub").mkdir()
        (folder / "sub" / "weights.bin").write_bytes(b"w" * 100)
        (folder / "result.json").write_text("{}")


@pytest.mark.parametrize("damage", ["cut short", "deleted", "manifest cut short"])
@pytest.mark.parametrize("root_kind", ["local", "memory"])
def test_a_damaged_artifact_counts_as_missing_and_its_rebuild_replaces_it(tmp_path, root_kind, damage, caplog):
    root = str(tmp_path / "store") if root_kind == "local" else f"memory://viss-r1-test-{tmp_path.name}-{damage[:3]}"
    store = ArtifactStore(root, local_cache=str(tmp_path / "cache"))
    published(store)
    path = f"{store.root}/stage/k1"
    if damage == "cut short":     # a copy or sync of the store interrupted in this file
        store.fs.pipe_file(f"{path}/sub/weights.bin", b"w" * 40)
    elif damage == "deleted":     # a temp cleaner, a hand
        store.fs.rm_file(f"{path}/sub/weights.bin")
    else:
        store.fs.pipe_file(f"{path}/{MANIFEST}", store.fs.cat_file(f"{path}/{MANIFEST}")[:30])
    assert not store.exists("stage", "k1")
    expected = {"cut short": "sub/weights.bin is 40 bytes, 100 when published", "deleted": "sub/weights.bin missing",
                "manifest cut short": f"{MANIFEST} unreadable"}[damage]
    assert f"stage/k1 is damaged ({expected}): it counts as missing and is built again" in caplog.text

    published(store, "the rebuild")                                # the stage builds it again in place
    assert store.exists("stage", "k1") and store.manifest("stage", "k1")["summary"] == {"writer": "the rebuild"}
    assert store.fs.cat_file(f"{path}/sub/weights.bin") == b"w" * 100


def test_a_whole_artifact_from_before_sizes_were_recorded_still_counts(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    published(store)
    manifest = tmp_path / "store" / "stage" / "k1" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"sizes"', '"sizes_unknown"'))
    assert store.exists("stage", "k1")


def test_a_download_cache_missing_a_file_is_downloaded_again(tmp_path):
    store = ArtifactStore(f"memory://viss-r1-test-{tmp_path.name}", local_cache=str(tmp_path / "cache"))
    published(store)
    local = store.local_path(store.ref("stage", "k1"))
    (local / "sub" / "weights.bin").unlink()                       # a temp cleaner took it
    assert store.local_path(store.ref("stage", "k1")) == local
    assert (local / "sub" / "weights.bin").read_bytes() == b"w" * 100
