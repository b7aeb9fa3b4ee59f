"""Which Trainer checkpoint a rerun may resume from: the newest *complete* one.

transformers' ``get_last_checkpoint`` takes the highest ``checkpoint-N`` folder as it is, and the
Trainer writes that folder in place (weights, then optimizer, scheduler and RNG state, then
``trainer_state.json``) with no temporary name — so a process killed during a save leaves a
newest checkpoint that is half written, and resuming from it crashes or, worse, loads zeros.
Here a checkpoint counts only when every file a resume reads is there and whole; the checks read
headers and file sizes, never the tensors, so they cost milliseconds even for 7B weights."""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path
from typing import Callable

_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"
WEIGHTS = "model.safetensors"
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TORCH_WEIGHTS = "pytorch_model.bin"
OPTIMIZER_FILES = ("optimizer.pt", "scheduler.pt")   # Trainer._save_optimizer_and_scheduler, without DeepSpeed


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is whole when its size is the 8-byte header length, the JSON header and
    the end of the last tensor's data — a file cut short by a kill is shorter."""
    try:
        with path.open("rb") as f:
            (header_size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_size))
    except (OSError, struct.error, ValueError) as error:
        return f"{path.name}: unreadable safetensors header ({error})"
    data_end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    expected, actual = 8 + header_size + data_end, path.stat().st_size
    return None if actual == expected else f"{path.name}: {actual} bytes, its header says {expected}"


def _torch_file_problem(path: Path) -> str | None:
    """``torch.save`` writes a zip whose directory is at the end: a cut-short file has none."""
    return None if zipfile.is_zipfile(path) else f"{path.name}: not a complete torch.save file (zip directory missing)"


def _file_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name} missing"
    return _safetensors_problem(path) if path.suffix == ".safetensors" else _torch_file_problem(path)


def _weights_problem(folder: Path) -> str | None:
    for index_name in SHARD_INDEXES:
        index = folder / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError) as error:
                return f"{index_name}: unreadable shard index ({error})"
            return next(filter(None, (_file_problem(folder / shard) for shard in shards)), None)
    for name in (WEIGHTS, TORCH_WEIGHTS):
        if (folder / name).is_file():
            return _file_problem(folder / name)
    return f"no model weights ({WEIGHTS}, {TORCH_WEIGHTS} or a shard index)"


def _deepspeed_problem(folder: Path) -> str | None:
    """DeepSpeed's own checkpoint: ``latest`` names the ``global_stepN`` folder holding the model
    and (per rank) optimizer states; ``latest`` is written last, but the files it names are
    checked too, in case they were cut short."""
    latest = folder / "latest"
    if not latest.is_file():
        return "DeepSpeed 'latest' file missing"
    tag = latest.read_text().strip()
    states = folder / tag
    if not tag or not states.is_dir():
        return f"DeepSpeed folder {tag!r} named by 'latest' missing"
    files = sorted(states.glob("*.pt"))
    if not any(f.name.endswith("model_states.pt") for f in files):
        return f"{tag}: no *model_states.pt"
    if not any(f.name.endswith("optim_states.pt") for f in files):
        return f"{tag}: no *optim_states.pt"
    return next((f"{tag}/{problem}" for problem in map(_torch_file_problem, files) if problem), None)


def checkpoint_problem(folder: Path, deepspeed: bool, optimizer: bool = True) -> str | None:
    """Why ``folder`` cannot be resumed from, or None when it is complete.

    ``deepspeed``: the run saves through DeepSpeed (its ``global_stepN`` folder);
    ``optimizer``: the run saves optimizer and scheduler (False with ``save_only_model``)."""
    try:
        state = json.loads((folder / TRAINER_STATE).read_text())
    except FileNotFoundError:
        return f"{TRAINER_STATE} missing"
    except (OSError, ValueError) as error:
        return f"{TRAINER_STATE} is not valid JSON ({error})"
    step = int(_CHECKPOINT_RE.match(folder.name).group(1))
    if state.get("global_step") != step:
        return f"{TRAINER_STATE} says global_step {state.get('global_step')}, the folder's name {step}"
    if deepspeed:
        # DeepSpeed's folder holds the optimizer (and, under ZeRO-3 without gathered weights, the
        # only copy of the model): weights beside it are optional, but must be whole if there.
        weights_saved = any((folder / n).is_file() for n in (WEIGHTS, TORCH_WEIGHTS, *SHARD_INDEXES))
        problem = _deepspeed_problem(folder) or (_weights_problem(folder) if weights_saved else None)
    else:
        problem = _weights_problem(folder) or (
            next(filter(None, (_file_problem(folder / n) for n in OPTIMIZER_FILES)), None) if optimizer else None)
    if problem:
        return problem
    # Saved only in some setups (RNG state one file per rank, AMP scaler, a scheduler beside
    # DeepSpeed), but a resume loads each one that is there, so each must be whole.
    optional = sorted(folder.glob("*.pt")) + sorted(folder.glob("rng_state*.pth"))
    return next(filter(None, map(_torch_file_problem, optional)), None)


def last_complete_checkpoint(checkpoints: Path, deepspeed: bool, optimizer: bool = True,
                             log: Callable[[str], None] = print) -> str | None:
    """The newest ``checkpoint-N`` under ``checkpoints`` that is complete, or None; each newer
    one passed over is logged with the reason."""
    if not checkpoints.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in checkpoints.iterdir() if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))]
    for step, folder in sorted(found, reverse=True):
        problem = checkpoint_problem(folder, deepspeed, optimizer)
        if problem is None:
            return str(folder)
        log(f"skipping incomplete checkpoint {folder}: {problem} (cut short by a kill during its save?); "
            f"resuming from an earlier one, and step {step} saves it again")
    return None
