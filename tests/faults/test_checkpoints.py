"""A rerun resumes only from a complete checkpoint: one cut short by a kill during its save (the
Trainer writes ``checkpoint-N`` in place) is passed over, with the reason logged."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from viss_r1.train.checkpoints import last_complete_checkpoint
from viss_r1.train.sft import run_sft

FAST = dict(learning_rate=3e-3, lr_scheduler_type="constant", bf16=False, activation_checkpointing=False,
            per_device_train_batch_size=4, gradient_accumulation_steps=1, max_grad_norm=1.0, logging_steps=1, seed=0)


def checkpoint(root: Path, step: int, deepspeed: bool = False, sharded: bool = False) -> Path:
    """A complete checkpoint as the Trainer writes it (small tensors)."""
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if sharded:
        save_file({"a": torch.ones(4)}, folder / "model-00001-of-00002.safetensors")
        save_file({"b": torch.ones(4)}, folder / "model-00002-of-00002.safetensors")
        (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
            "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    else:
        save_file({"w": torch.arange(64, dtype=torch.float32)}, folder / "model.safetensors")
    if deepspeed:
        (folder / "latest").write_text(f"global_step{step}")
        (folder / f"global_step{step}").mkdir()
        torch.save({"module": {}}, folder / f"global_step{step}" / "mp_rank_00_model_states.pt")
        torch.save({"optimizer": {}}, folder / f"global_step{step}" / "zero_pp_rank_0_mp_rank_00_optim_states.pt")
    else:
        torch.save({"state": {}}, folder / "optimizer.pt")
        torch.save({"last_epoch": step}, folder / "scheduler.pt")
    torch.save({"python": 0}, folder / "rng_state.pth")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    return folder


def cut(path: Path, keep: float = 0.5) -> None:
    """What a kill during the write leaves: the first part of the file."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def cut_weights(folder: Path) -> str:
    full = (folder / "model.safetensors").stat().st_size
    cut(folder / "model.safetensors")
    return f"model.safetensors: {full // 2} bytes, its header says {full}"


def state_of_step_3(folder: Path) -> str:
    (folder / "trainer_state.json").write_text('{"global_step": 3}')
    return "trainer_state.json says global_step 3, the folder's name 4"


# How a kill (or a lost file) breaks checkpoint-4 → the reason it is skipped for.
BREAKS = {
    "trainer_state cut short": lambda f: cut(f / "trainer_state.json") or "trainer_state.json is not valid JSON",
    "trainer_state missing": lambda f: (f / "trainer_state.json").unlink() or "trainer_state.json missing",
    "state of another step": state_of_step_3,
    "weights cut short": cut_weights,
    "weights missing": lambda f: (f / "model.safetensors").unlink()
        or "no model weights (model.safetensors, pytorch_model.bin or a shard index)",
    "optimizer cut short": lambda f: cut(f / "optimizer.pt")
        or "optimizer.pt: not a complete torch.save file (zip directory missing)",
    "scheduler missing": lambda f: (f / "scheduler.pt").unlink() or "scheduler.pt missing",
    "rng state cut short": lambda f: cut(f / "rng_state.pth")
        or "rng_state.pth: not a complete torch.save file (zip directory missing)",
}


@pytest.mark.parametrize("fault", BREAKS)
def test_an_incomplete_newest_checkpoint_is_skipped_with_its_reason(tmp_path, fault):
    checkpoint(tmp_path, 2)
    broken = checkpoint(tmp_path, 4)
    reason = BREAKS[fault](broken)
    logged: list[str] = []
    assert last_complete_checkpoint(tmp_path, deepspeed=False, log=logged.append) == str(tmp_path / "checkpoint-2")
    (message,) = logged
    assert message.startswith(f"skipping incomplete checkpoint {broken}: {reason}"), message


def test_a_missing_shard_makes_a_sharded_checkpoint_incomplete(tmp_path):
    checkpoint(tmp_path, 2, sharded=True)
    (checkpoint(tmp_path, 4, sharded=True) / "model-00002-of-00002.safetensors").unlink()
    logged: list[str] = []
    assert last_complete_checkpoint(tmp_path, deepspeed=False, log=logged.append) == str(tmp_path / "checkpoint-2")
    assert logged == [f"skipping incomplete checkpoint {tmp_path / 'checkpoint-4'}: "
                      "model-00002-of-00002.safetensors missing (cut short by a kill during its save?); "
                      "resuming from an earlier one, and step 4 saves it again"]


@pytest.mark.parametrize("reason, breaks", [
    ("DeepSpeed folder 'global_step4' named by 'latest' missing", lambda f: shutil.rmtree(f / "global_step4")),
    ("DeepSpeed 'latest' file missing", lambda f: (f / "latest").unlink()),
    ("global_step4: no *optim_states.pt", lambda f: (f / "global_step4" / "zero_pp_rank_0_mp_rank_00_optim_states.pt").unlink()),
    ("global_step4/mp_rank_00_model_states.pt: not a complete", lambda f: cut(f / "global_step4" / "mp_rank_00_model_states.pt")),
])
def test_deepspeed_checkpoints_need_the_step_folder_latest_names(tmp_path, reason, breaks):
    checkpoint(tmp_path, 2, deepspeed=True)
    broken = checkpoint(tmp_path, 4, deepspeed=True)
    breaks(broken)
    logged: list[str] = []
    assert last_complete_checkpoint(tmp_path, deepspeed=True, log=logged.append) == str(tmp_path / "checkpoint-2")
    assert logged[0].startswith(f"skipping incomplete checkpoint {broken}: {reason}"), logged


def test_the_newest_complete_checkpoint_wins_and_none_when_there_is_none(tmp_path):
    for step in (2, 10, 4):   # by step, not by name: checkpoint-10 sorts before checkpoint-4 as text
        checkpoint(tmp_path, step)
    assert last_complete_checkpoint(tmp_path, deepspeed=False, log=pytest.fail) == str(tmp_path / "checkpoint-10")
    assert last_complete_checkpoint(tmp_path / "nothing", deepspeed=False) is None
    cut(tmp_path / "checkpoint-2" / "trainer_state.json")
    logged: list[str] = []
    assert last_complete_checkpoint(tmp_path, deepspeed=False, optimizer=False, log=logged.append) \
        == str(tmp_path / "checkpoint-10")


def test_a_training_run_resumes_from_the_last_complete_checkpoint(tiny_sft, tmp_path, capsys):
    """Real fault: SFT saves checkpoint-2 and checkpoint-4, then checkpoint-4's weights are cut short
    (a kill during its save). The rerun resumes from checkpoint-2, trains steps 3-4 and finishes;
    transformers' get_last_checkpoint would hand checkpoint-4 to the resume, which fails to load."""
    from viss_r1.train.config import OptimSettings, SFTRunConfig

    config = SFTRunConfig(stage="ssl_cot_sft", model=str(tiny_sft.model_dir), output_dir=str(tmp_path), samples=str(tiny_sft.samples),
                          frame_shards=[str(p) for p in tiny_sft.shard_files],
                          training=OptimSettings(**{**FAST, "per_device_train_batch_size": 2}, max_steps=4, save_steps=2))
    first = run_sft(config)
    assert first["global_step"] == 4 and first["resumed_from"] is None
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    reason = cut_weights(checkpoints / "checkpoint-4")
    for done in ("result.json", "final"):
        shutil.rmtree(tmp_path / done) if (tmp_path / done).is_dir() else os.remove(tmp_path / done)

    second = run_sft(config)
    assert second["resumed_from"] == str(checkpoints / "checkpoint-2")
    assert second["global_step"] == 4
    assert [step for step, _ in second["losses"]] == [3, 4]            # only the steps after checkpoint-2 ran
    assert json.loads((tmp_path / "result.json").read_text())["resumed_from"] == str(checkpoints / "checkpoint-2")
    assert f"skipping incomplete checkpoint {checkpoints / 'checkpoint-4'}: {reason} " in capsys.readouterr().out
