"""Groups across processes (METHOD.md §9). TRL's ``per_device_train_batch_size`` counts
completions; with fewer per device than G, one prompt's G rollouts are spread over processes, and
whatever is computed per group — the length bonus, T-GRPO's ordered-vs-shuffled comparison —
must still see the whole group.

Two runs of the same GRPO steps on the tiny model, Video-R1 stage with T-GRPO, G = 4: one process
with 4 completions per device, and two processes (torchrun, gloo on CPU) with 2 each, so every
group is split 2 + 2. Both samplers run for real; the completions that are scored are then
scripted by step and index in the group (``tests/grpo_scripted_rollouts.py``) — the only way one
process and two can score the same completions, since each process samples from its own stream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from grpo_scripted_rollouts import ORDERED, RIGHT, SHUFFLED
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

from viss_r1.process import write_config
from viss_r1.rewards import LENGTH_BONUS, TEMPORAL_BONUS, TEMPORAL_RATIO
from viss_r1.train.checkpoints import last_complete_checkpoint
from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings

HELPER = Path(__file__).resolve().parents[1] / "grpo_scripted_rollouts.py"
G = 4
TRAINING = dict(learning_rate=1e-3, lr_scheduler_type="constant", bf16=False, activation_checkpointing=False,
                per_device_train_batch_size=1, gradient_accumulation_steps=1, max_grad_norm=1.0, logging_steps=1,
                seed=0, warmup_steps=0.0, max_steps=2, save_steps=2)


def start_run(tiny_sft, folder: Path, processes: int) -> subprocess.Popen:
    """Start one run of the helper (under torchrun for several processes) in ``folder``."""
    config = GRPORunConfig(stage="video_r1_grpo", model=str(tiny_sft.model_dir), output_dir=str(folder / "run"),
                           samples=str(tiny_sft.samples), frame_shards=[str(p) for p in tiny_sft.shard_files],
                           rewards={"temporal": True}, training=OptimSettings(**TRAINING),
                           grpo=GRPOSettings(num_generations=G, max_completion_length=8, rollout_table_steps=1))
    folder.mkdir()
    arguments = [str(HELPER), "--config", str(write_config(config, folder / "grpo.yaml")),
                 "--completions-per-device", str(G // processes), "--out", str(folder / "record")]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    with open(folder / "log.txt", "w") as log:
        return subprocess.Popen([sys.executable, *launcher, *arguments], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"})


def finished_run(process: subprocess.Popen, folder: Path, processes: int) -> tuple[list[dict], list[dict]]:
    """(rollout table per step, each process's record) of a run started by ``start_run``."""
    assert process.wait(timeout=900) == 0, (folder / "log.txt").read_text()[-4000:]
    record = folder / "record"
    ranks = [json.loads((record / f"rank{r}.json").read_text()) for r in range(processes)]
    return json.loads((record / "rollouts.json").read_text()), ranks


def f32(values: list[float]) -> list[float]:
    return np.asarray(values, dtype=np.float32).tolist()


def test_two_processes_score_split_groups_exactly_as_one_process(tiny_sft, tmp_path):
    started = time.perf_counter()
    two = start_run(tiny_sft, tmp_path / "two", processes=2)   # side by side: most of each is start-up
    one = start_run(tiny_sft, tmp_path / "one", processes=1)
    one_table, _ = finished_run(one, tmp_path / "one", processes=1)
    two_table, (rank0, rank1) = finished_run(two, tmp_path / "two", processes=2)
    print(f"both runs: {time.perf_counter() - started:.1f} s")

    # Same prompts, completions, rewards and advantages, rollout by rollout: the rollout table holds
    # every process's rollouts, and each group was scored whole.
    assert [t["step"] for t in two_table] == [t["step"] for t in one_table] == [1, 2]
    assert two_table == one_table
    for table, step in zip(two_table, (0, 1)):
        rollouts = table["rollouts"]
        assert len(rollouts) == G and len({r["sample_id"] for r in rollouts}) == 1
        right = [kind == RIGHT for kind in ORDERED[step]]
        # more than one right rollout in every scripted group: each right one (inside the length
        # window) gets the bonus, though on two processes each holds only part of its group
        assert [r["reward/length_reward"] for r in rollouts] == f32([LENGTH_BONUS * hit for hit in right])
        # T-GRPO on the group's mean: step 0, ordered 0.75 < 0.8 × shuffled 1.0 (no bonus), although
        # the first process's half alone (1.0) would pass; step 1, ordered 0.5 >= 0.8 × 0.5
        shuffled_mean = sum(kind == RIGHT for kind in SHUFFLED[step]) / len(SHUFFLED[step])
        passes = sum(right) / G >= TEMPORAL_RATIO * shuffled_mean
        assert passes is (step == 1)
        temporal = [TEMPORAL_BONUS * (hit and passes) for hit in right]
        assert [r["reward/temporal_reward"] for r in rollouts] == f32(temporal)
        assert any(r["advantage"] != 0.0 for r in rollouts)

    # Each process samples from its own stream: the two halves of a group are not copies.
    for step in ("0", "1"):
        assert len(rank0["sampled"][step]) == len(rank1["sampled"][step]) == G // 2
        assert rank0["sampled"][step] != rank1["sampled"][step]
    # A group's shuffled-frame rollouts are sampled once (by the process holding its first rollout).
    assert [rank0["shuffled"][s] for s in ("0", "1")] == [G // 2] * 2
    assert [rank1["shuffled"][s] for s in ("0", "1")] == [0, 0]

    # Saved from the main process: result.json once, by rank 0; a complete, loadable checkpoint.
    run = tmp_path / "two" / "run"
    assert (rank0["result_json_writes"], rank1["result_json_writes"]) == (1, 0)
    result = json.loads((run / "result.json").read_text())
    assert result == rank0["result"] and result["world_size"] == 2 and result["global_step"] == 2
    checkpoint = Path(last_complete_checkpoint(run / "checkpoints", deepspeed=False))
    assert checkpoint.name == "checkpoint-2"
    assert sorted(p.name for p in checkpoint.glob("rng_state*.pth")) == ["rng_state_0.pth", "rng_state_1.pth"]
    saved, final = load_file(checkpoint / "model.safetensors"), load_file(run / "final" / "model.safetensors")
    loaded = AutoModelForImageTextToText.from_pretrained(checkpoint)
    assert sum(p.numel() for p in loaded.parameters()) == sum(t.numel() for t in saved.values())
    initial = load_file(tiny_sft.model_dir / "model.safetensors")
    assert saved.keys() == final.keys() and all((saved[k] == final[k]).all() for k in saved)
    assert any(not (saved[k] == initial[k]).all() for k in saved if k in initial)   # trained, not the start
