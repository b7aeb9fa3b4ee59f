"""The identity of a checkpoint a stage starts from or scores: part of the stage's cache key.

A local folder can change in place (new weights copied over, a download finished), so its
identity covers the weights, not just the config: every weight file's name and size, each
safetensors shard's header (tensor names, dtypes, shapes and offsets — a few KB read even from a
15 GB shard), and for pickled ``.bin`` weights a hash of their first and last MiB. A hub id is
only an identity when pinned to a revision: ``main`` moves under the same name, and an offline
machine cannot ask the hub what it points to.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

# Small files that shape the model's behaviour: config, generation config, tokenizer and chat
# template, weight indexes, tokenizer vocabularies (merges.txt, tokenizer.model) and remote code.
DESCRIPTION_SUFFIXES = (".json", ".jinja", ".txt", ".model", ".py")
PICKLED_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth")
EDGE_BYTES = 1 << 20          # how much of each end of a pickled weight file is hashed
MAX_HEADER_BYTES = 100 << 20  # safetensors caps its header at 100 MB; more means a corrupt file
MOVING_REVISIONS = ("main", "master")
PIN_HINT = ("set revision: <commit sha or tag> in the model's config (find it on the model page's "
            "'Files and versions' tab, or `huggingface-cli download <model> --revision <sha>`), or download "
            "it and give the local folder")


def checkpoint_digest(model: str, revision: str | None = None) -> str:
    """``hub:<id>@<revision>`` for a hub id, else a 16-hex digest of the local folder's config,
    tokenizer and weights (see the module docstring). Raises ValueError, naming the fix, for an
    unpinned hub id, a path that is not a folder, a folder without config.json, or a missing shard."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        if revision is not None:
            raise ValueError(f"model {model!r} is a local folder, but revision {revision!r} is set: a revision "
                             "pins a hub id only; drop it (the folder's contents are its identity)")
        return local_checkpoint_digest(folder)
    if folder.exists():
        raise ValueError(f"checkpoint folder {model!r} is a file, not a folder; give the folder holding "
                         "config.json and the weights")
    if _looks_like_path(model):
        raise ValueError(f"checkpoint folder {model!r} does not exist; give the folder holding config.json and "
                         "the weights (relative paths resolve against the working directory), or a hub id")
    if not revision:
        raise ValueError(f"model {model!r} is a hub id without a revision: {PIN_HINT} — an unpinned hub id can "
                         "change under the same cache key, and offline machines cannot resolve one "
                         f"(if {model!r} was meant as a local folder: it does not exist)")
    if revision in MOVING_REVISIONS:
        raise ValueError(f"model {model!r}: revision {revision!r} is a branch, which moves; {PIN_HINT}")
    return f"hub:{model}@{revision}"


def local_checkpoint_digest(folder: Path) -> str:
    if not (folder / "config.json").is_file():
        raise ValueError(f"checkpoint folder {folder} has no config.json: not a transformers checkpoint "
                         "(give the folder save_pretrained wrote)")
    _check_shards(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix in DESCRIPTION_SUFFIXES:
            entry = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.suffix == ".safetensors":
            entry = f"{path.stat().st_size}:{hashlib.sha256(safetensors_header(path)).hexdigest()}"
        elif path.suffix in PICKLED_WEIGHT_SUFFIXES:
            entry = f"{path.stat().st_size}:{_edges_hash(path)}"
        else:
            continue   # READMEs, images of the model card, lock files: no part of the model
        digest.update(f"{path.name}\0{entry}\0".encode())
    return digest.hexdigest()[:16]


def safetensors_header(path: Path) -> bytes:
    """The JSON header of a safetensors file: 8 bytes little-endian length, then the header."""
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"weight file {path} is {len(prefix)} bytes long: not a safetensors file "
                             "(an interrupted download? fetch it again)")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, path.stat().st_size - 8):
            raise ValueError(f"weight file {path} declares a {length}-byte header in a "
                             f"{path.stat().st_size}-byte file: not a safetensors file, or truncated; fetch it again")
        return handle.read(length)


def _check_shards(folder: Path) -> None:
    """Every shard a weight index names must be there: a half-finished download would otherwise
    get a key of its own and fail only when a stage loads it."""
    for index in sorted(folder.glob("*.index.json")):
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"checkpoint folder {folder}: {index.name} is not a weight index with a "
                             f"weight_map ({error}); fetch it again") from None
        missing = sorted({shard for shard in weight_map.values() if not (folder / shard).is_file()})
        if missing:
            raise ValueError(f"checkpoint folder {folder}: shard(s) {', '.join(missing)} named by {index.name} "
                             "are missing (an interrupted download?); fetch them again")


def _edges_hash(path: Path) -> str:
    # Hashing all of a multi-GB pickle on every Definitions load is too slow; its ends carry the
    # pickle's structure and the first and last tensors, and the size catches most other changes.
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(EDGE_BYTES)
        handle.seek(max(size - EDGE_BYTES, len(head)))
        tail = handle.read()
    return hashlib.sha256(head + tail).hexdigest()


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "org/name"; anything absolute, explicitly relative, home-relative or
    # deeper than one slash is meant as a folder.
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1
