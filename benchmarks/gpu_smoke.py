"""GPU smoke test: the tiny model through SFT and a few ViSS-R1 GRPO steps, bf16, DeepSpeed ZeRO-2, 1 GPU.

    .venv/bin/python benchmarks/gpu_smoke.py [--workdir DIR] [--sft-steps 20] [--grpo-steps 4] [--json OUT] [--cpu]

Builds the embedded default's inputs offline with the library (synthetic clips → probed catalog →
Parquet frame cache → pretext-sample tables → tiny Qwen2.5-VL-architecture model), writes an
``SFTRunConfig`` and a ``GRPORunConfig`` (stage ``viss_r1``, from the SFT model) with the embedded
training settings switched to bf16 + ``infra/deepspeed/zero2.json``, and launches each stage as the
StageLauncher does (``python -m accelerate.commands.launch --config_file infra/accelerate/1gpu.yaml
… -m viss_r1.train.<stage> --config FILE``). Prints per stage: steps, median seconds per step, peak
GPU memory (``torch.cuda.max_memory_allocated``, both from the stage's ``result.json``), and the
final SFT loss / mean GRPO reward; ``--json OUT`` writes the same as JSON.

``--cpu`` runs the very same path on CPU (fp32, no DeepSpeed, ``accelerate launch --cpu``) at tiny
sizes: it checks the plumbing only, and its figures are not GPU figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import polars as pl

from viss_r1.artifacts import ArtifactStore
from viss_r1.data.frame_cache import INDEX_FILE, shard_files
from viss_r1.data.ingest import cache_frames, probe_files, write_frame_index
from viss_r1.data.pretext_samples import PretextSettings, build_use_table, records_with_clips
from viss_r1.data.records import load_annotation_file
from viss_r1.data.tables import write_table
from viss_r1.embedded import EMBEDDED_GRPO, EMBEDDED_ROLLOUTS, EMBEDDED_SAMPLING, EMBEDDED_SFT
from viss_r1.process import write_config
from viss_r1.stages import SSL_COT_SFT, VISS_R1_GRPO
from viss_r1.synthetic import SyntheticConfig, generate_synthetic_dataset
from viss_r1.train.config import GRPORunConfig, SFTRunConfig
from viss_r1.video.encoding import FrameEncoding

REPO = Path(__file__).resolve().parents[1]
ACCELERATE_1GPU = REPO / "infra/accelerate/1gpu.yaml"
ZERO2 = REPO / "infra/deepspeed/zero2.json"
# GPU: 16 clips give 96 SFT rows (6 transform draws each) and 16 RL prompts; CPU: the least that runs.
SIZES = {"gpu": dict(clips=16, sft_batch=4, prompts=2, generations=8,
                     completion=EMBEDDED_ROLLOUTS.max_completion_length),
         "cpu": dict(clips=4, sft_batch=2, prompts=1, generations=2, completion=16)}


def build_inputs(work: Path, clips: int) -> tuple[Path, list[Path], dict[str, Path]]:
    """(tiny model folder, frame-cache shard files, {table name: pretext-sample table}) for the
    ViSS-R1 arm's two stages."""
    from viss_r1.modeling.corpus import tokenizer_corpus
    from viss_r1.modeling.tiny import TinyModelSpec, build_tiny_model

    synthetic = generate_synthetic_dataset(work / "synthetic", SyntheticConfig(num_train=clips, num_eval=1))
    records, _ = load_annotation_file(synthetic.train_annotations, "train")
    records = [{**r, "media_root": str(synthetic.media_root), "split": "train"} for r in records]
    media = [{k: r[k] for k in ("media_root", "path", "data_type")} for r in records]
    catalog = probe_files(media, EMBEDDED_SAMPLING.min_frames, workers=1)
    store = ArtifactStore(str(work / "artifacts"))
    cached = cache_frames(store, catalog, EMBEDDED_SAMPLING, FrameEncoding(), 1, "gpu_smoke", workers=1)
    (work / "frame_cache").mkdir(exist_ok=True)
    write_frame_index(work / "frame_cache", cached)
    # Through the tables' schemas, as the assets store them, so the join sees the same column types.
    joined = records_with_clips(write_table(records, work / "records.parquet", "records"),
                                write_table(catalog, work / "catalog.parquet", "catalog"),
                                pl.read_parquet(work / "frame_cache" / INDEX_FILE))
    usable = joined.filter(pl.col("reason").is_null()).to_dicts()
    settings = PretextSettings()
    tables, rows = {}, []
    for use in (u for u in settings.uses if u.name in (SSL_COT_SFT.samples, VISS_R1_GRPO.samples)):
        use_rows, _ = build_use_table(usable, use, settings)
        tables[use.name] = work / f"{use.name}.parquet"
        write_table(use_rows, tables[use.name], "pretext_samples")
        rows += use_rows
    build_tiny_model(work / "model", tokenizer_corpus(rows), TinyModelSpec())
    return work / "model", shard_files(store, work / "frame_cache"), tables


def training(base, steps: int, gpu: bool, **overrides):
    """The embedded stage settings, ``steps`` long, bf16 + ZeRO-2 on GPU, fp32 without DeepSpeed on CPU."""
    return base.model_copy(update=dict(max_steps=steps, bf16=gpu, deepspeed=str(ZERO2) if gpu else None,
                                       logging_steps=1, save_steps=max(steps, 1), **overrides))


def launch(module: str, config_file: Path, gpu: bool) -> dict:
    """One stage through ``accelerate launch`` with the 1gpu config; its ``result.json``.

    On GPU the DeepSpeed launcher is asked for on the command line: with 1gpu.yaml alone
    (distributed_type NO) accelerate's simple launcher sets no RANK/LOCAL_RANK/MASTER_ADDR for one
    process, so the Trainer's ``deepspeed.initialize`` (from ``training.deepspeed``) falls back to
    MPI discovery and fails without mpi4py. ``--use_deepspeed`` runs it under torch.distributed.run
    like the 8-GPU configs; ``training.deepspeed`` names the same JSON so the Trainer fills its
    "auto" values; ``--mixed_precision no`` replaces 1gpu.yaml's value, which accelerate rejects
    next to a ``deepspeed_config_file`` (precision is the JSON's bf16, i.e. ``training.bf16``)."""
    from assets.launcher import StageLauncher  # the asset's own command line

    device = (["--use_deepspeed", "--deepspeed_config_file", str(ZERO2), "--mixed_precision", "no"] if gpu
              else ["--cpu"])
    launcher = StageLauncher(launcher="accelerate", launcher_args=["--config_file", str(ACCELERATE_1GPU), *device])
    command = launcher.command(module, str(config_file))
    print("launching:", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode:
        raise SystemExit(f"{module} failed (exit {done.returncode}); its output is above. Command: {' '.join(command)}")
    return json.loads((Path(config_file).parent / "result.json").read_text())


def run_stages(work: Path, sft_steps: int, grpo_steps: int, gpu: bool) -> dict:
    sizes = SIZES["gpu" if gpu else "cpu"]
    model, shards, tables = build_inputs(work, sizes["clips"])
    for stage in ("sft", "grpo"):  # a rerun in the same workdir starts afresh instead of resuming
        shutil.rmtree(work / stage, ignore_errors=True)
        (work / stage).mkdir()
    sft = SFTRunConfig(stage=SSL_COT_SFT, model=str(model), output_dir=str(work / "sft"),
                       samples=str(tables[SSL_COT_SFT.samples]), frame_shards=shards,
                       training=training(EMBEDDED_SFT, sft_steps, gpu, per_device_train_batch_size=sizes["sft_batch"]))
    sft_result = launch("viss_r1.train.sft", write_config(sft, work / "sft" / "sft_config.yaml"), gpu)
    grpo = GRPORunConfig(
        stage=VISS_R1_GRPO, model=sft_result["final_model"], output_dir=str(work / "grpo"),
        samples=str(tables[VISS_R1_GRPO.samples]), frame_shards=shards,
        training=training(EMBEDDED_GRPO, grpo_steps, gpu, per_device_train_batch_size=sizes["prompts"]),
        grpo=EMBEDDED_ROLLOUTS.model_copy(update=dict(num_generations=sizes["generations"],
                                                      max_completion_length=sizes["completion"])))
    grpo_result = launch("viss_r1.train.grpo", write_config(grpo, work / "grpo" / "grpo_config.yaml"), gpu)
    rewards = [reward for _, reward in grpo_result["rewards"]]
    return {
        "sft": {**_costs(sft_result), "final_loss": sft_result["last_loss"]},
        "grpo": {**_costs(grpo_result), "mean_reward": statistics.fmean(rewards) if rewards else None},
    }


def _costs(result: dict) -> dict:
    return {k: result[k] for k in ("global_step", "seconds_per_step", "peak_gpu_memory_gb", "seconds")}


def print_table(report: dict) -> None:
    print(f"\n{report['device']}, {'bf16 + DeepSpeed ZeRO-2' if report['deepspeed'] else 'fp32, no DeepSpeed'}")
    print(f"{'stage':6s} {'steps':>5s} {'s/step':>8s} {'peak GPU GB':>11s}  final loss / mean reward")
    for name, stage in report["stages"].items():
        memory = "-" if stage["peak_gpu_memory_gb"] is None else f"{stage['peak_gpu_memory_gb']:.2f}"
        value = stage.get("final_loss", stage.get("mean_reward"))
        print(f"{name:6s} {stage['global_step']:5d} {stage['seconds_per_step']:8.3f} {memory:>11s}  "
              f"{'loss' if 'final_loss' in stage else 'reward'} {value:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="keep inputs and outputs here (default: a temp folder)")
    parser.add_argument("--sft-steps", type=int, default=20)
    parser.add_argument("--grpo-steps", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--cpu", action="store_true", help="plumbing check on CPU: tiny sizes, fp32, no DeepSpeed")
    args = parser.parse_args()

    import torch

    gpu = not args.cpu
    if gpu and not torch.cuda.is_available():
        raise SystemExit("gpu_smoke needs a CUDA GPU: torch.cuda.is_available() is False "
                         "(run it on a CUDA machine, or pass --cpu to check the plumbing only)")
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_") as tmp:
        work = (args.workdir or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        stages = run_stages(work, args.sft_steps, args.grpo_steps, gpu)
    report = {"device": torch.cuda.get_device_name(0) if gpu else "cpu (plumbing check, not GPU figures)",
              "deepspeed": str(ZERO2.relative_to(REPO)) if gpu else None, "bf16": gpu, "stages": stages}
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
