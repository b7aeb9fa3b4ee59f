import pytest

from viss_r1.artifacts import MANIFEST, ArtifactStore, _replace_dir, cache_key
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
