"""A checkpoint's identity covers its weights (local folders) or its pinned revision (hub ids)."""

import json
import re
import shutil

import numpy as np
import pytest
from safetensors.numpy import save_file

from viss_r1.modeling.checkpoint_identity import checkpoint_digest

HUB_ID = "Qwen/Qwen2.5-VL-7B-Instruct"
SHA = "cc594898137f460bfe9f0759e9844b3ce807cfb5"
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def write_checkpoint(folder, second_shard: dict[str, np.ndarray] | None = None):
    """A two-shard checkpoint as save_pretrained writes it: config, tokenizer, index, shards."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl", "hidden_size": 4}))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0}}}))
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    first = {"embed.weight": np.zeros((8, 4), dtype=np.float32)}
    second = second_shard if second_shard is not None else {"head.weight": np.zeros((4, 8), dtype=np.float32)}
    save_file(first, str(folder / SHARDS[0]))
    save_file(second, str(folder / SHARDS[1]))
    # The index names tensors, not their shapes: it stays byte-identical when a shard changes.
    weight_map = {"embed.weight": SHARDS[0], "head.weight": SHARDS[1]}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def descriptions(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".json", ".jinja")}


def test_local_digest_is_stable_and_independent_of_where_the_folder_is(tmp_path):
    folder = write_checkpoint(tmp_path / "a")
    digest = checkpoint_digest(str(folder), None)
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert checkpoint_digest(str(folder), None) == digest
    assert checkpoint_digest(str(shutil.copytree(folder, tmp_path / "b")), None) == digest


@pytest.mark.parametrize("changed_shard", [
    {"head.weight": np.zeros((4, 8), dtype=np.float16)},   # another dtype
    {"head.weight": np.zeros((4, 9), dtype=np.float32)},   # another shape
    {"head.weight": np.zeros((8, 4), dtype=np.float32)},   # same size, transposed: only the header tells
])
def test_a_changed_weight_shard_changes_the_digest_while_the_json_files_stay_identical(tmp_path, changed_shard):
    original = write_checkpoint(tmp_path / "original")
    changed = write_checkpoint(tmp_path / "changed", second_shard=changed_shard)
    # Every .json/.jinja file is byte-identical, so a digest of those alone (the old
    # checkpoint_digest in assets/models.py) gave both folders one key: new weights, old results.
    assert descriptions(original) == descriptions(changed)
    assert checkpoint_digest(str(changed), None) != checkpoint_digest(str(original), None)


def test_a_pickled_weight_file_counts_by_size_and_its_ends(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt")
    weights = folder / "pytorch_model.bin"
    weights.write_bytes(bytes(3 << 20))
    before = checkpoint_digest(str(folder), None)
    weights.write_bytes(bytes(3 << 20) + b"\1")                      # one byte longer
    longer = checkpoint_digest(str(folder), None)
    weights.write_bytes(bytes((3 << 20) - 1) + b"\1")                # same size, last byte differs
    tail_changed = checkpoint_digest(str(folder), None)
    assert len({before, longer, tail_changed}) == 3


def test_files_that_are_not_the_model_do_not_change_the_digest(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt")
    before = checkpoint_digest(str(folder), None)
    (folder / "README.md").write_text("model card")
    assert checkpoint_digest(str(folder), None) == before


def test_a_missing_shard_is_named(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt")
    (folder / SHARDS[1]).unlink()
    with pytest.raises(ValueError, match=f"shard\\(s\\) {SHARDS[1]} named by model.safetensors.index.json are missing"):
        checkpoint_digest(str(folder), None)


def test_a_truncated_shard_is_refused(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt")
    (folder / SHARDS[0]).write_bytes((10_000).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match=f"{SHARDS[0]} declares a 10000-byte header in a 10-byte file"):
        checkpoint_digest(str(folder), None)


def test_a_hub_id_needs_a_revision():
    with pytest.raises(ValueError, match=f"model '{HUB_ID}' is a hub id without a revision: set revision:"):
        checkpoint_digest(HUB_ID, None)
    with pytest.raises(ValueError, match="revision 'main' is a branch, which moves"):
        checkpoint_digest(HUB_ID, "main")


def test_a_pinned_hub_id_is_its_own_identity():
    assert checkpoint_digest(HUB_ID, SHA) == f"hub:{HUB_ID}@{SHA}"
    assert checkpoint_digest(HUB_ID, "v1.0") == f"hub:{HUB_ID}@v1.0"


def test_a_missing_local_path_is_not_taken_for_a_hub_id(tmp_path):
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(ValueError, match=f"checkpoint folder '{re.escape(str(missing))}' does not exist"):
        checkpoint_digest(str(missing), SHA)
    with pytest.raises(ValueError, match=re.escape("checkpoint folder './runs/final' does not exist")):
        checkpoint_digest("./runs/final", None)


def test_a_local_folder_must_be_a_checkpoint_and_takes_no_revision(tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x")
    with pytest.raises(ValueError, match=f"checkpoint folder '{re.escape(str(weights))}' is a file, not a folder"):
        checkpoint_digest(str(weights), None)
    with pytest.raises(ValueError, match=f"checkpoint folder {re.escape(str(tmp_path))} has no config.json"):
        checkpoint_digest(str(tmp_path), None)
    folder = write_checkpoint(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="is a local folder, but revision 'v1.0' is set"):
        checkpoint_digest(str(folder), "v1.0")
