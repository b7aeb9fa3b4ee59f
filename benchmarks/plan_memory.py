"""GPU memory plan of a run config: per stage, what one GPU holds and whether it fits.

    .venv/bin/python benchmarks/plan_memory.py [--config FILE ...] [--gpus-per-node 8] [--gpu-mem-gb 80] [--nodes 1]
        [--reserve 0.1] [--prompt-tokens 512] [--sft-target-tokens 1024] [--model-config config.json] [--json OUT]

Reads the run config as ``dagster job execute -c`` does (several ``--config`` files merge, later
ones win key by key, a list replaces a list) and resolves every setting the stages will run with
through the assets' own config classes (defaults included). Without ``--config`` it plans the 7B
recipes: ViSS-R1 (``viss_r1_qwen2_5_vl_7b.yaml``: SSL-CoT SFT, ViSS-R1 GRPO) and Pretext-GRPO
(``video_r1_data.yaml`` + ``pretext_grpo_qwen2_5_vl_7b.yaml``: stages I and II), each with
``benchmarks_7b.yaml`` for the evaluation. One Markdown table per cluster shape: per stage the
model states per GPU under the stage's ZeRO JSON (DeepSpeed's estimators), the activations of a
step without and with activation checkpointing, the rollouts, the peak, whether it fits and, if
not, the setting to change (``viss_r1.planning``).

The model is Qwen2.5-VL-7B built on the meta device from its published dimensions (nothing is
downloaded); ``--model-config`` plans another Qwen2.5-VL size from its ``config.json``.
Prints a plan; measures nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assets.configs import BaseModelConfig, BenchmarkConfig, EvaluationConfig, FrameCacheConfig, GRPOModelConfig  # noqa: E402
from assets.evaluation import benchmark_asset_name, eval_asset_key  # noqa: E402
from assets.models import SFT_CONFIGS  # noqa: E402
from assets.configs import SFTModelConfig  # noqa: E402
from viss_r1.evaluate.benchmarks import BENCHMARKS  # noqa: E402
from viss_r1.planning.memory import ZeroSettings  # noqa: E402
from viss_r1.planning.model import PlannedModel, planned_model, qwen2_5_vl_7b  # noqa: E402
from viss_r1.planning.plan import Cluster, StagePlan, Workload, plan, plan_stage  # noqa: E402
from viss_r1.planning.report import heading, markdown_table  # noqa: E402
from viss_r1.planning.workloads import Assumptions, evaluation_workload, training_workload  # noqa: E402
from viss_r1.stages import BASE_MODEL, CHECKPOINT, STAGES  # noqa: E402

CONFIGS = ROOT / "infra" / "configs"
# The 7B recipes, each as the files its job is run with (README "On GPUs: the 7B recipe").
RECIPES: dict[str, list[Path]] = {
    "ViSS-R1": [CONFIGS / "viss_r1_qwen2_5_vl_7b.yaml", CONFIGS / "benchmarks_7b.yaml"],
    "Pretext-GRPO": [CONFIGS / "video_r1_data.yaml", CONFIGS / "pretext_grpo_qwen2_5_vl_7b.yaml",
                     CONFIGS / "benchmarks_7b.yaml"],
}


def merged(base: Any, over: Any) -> Any:
    """Dagster's merge of several run-config files: mappings key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in over.items()}}
    return over


def load_run_config(files: list[Path]) -> dict:
    run_config: dict = {}
    for path in files:
        run_config = merged(run_config, yaml.safe_load(Path(path).read_text()) or {})
    return run_config


def _deepspeed_json(path: str) -> Path:
    """A run config names its ZeRO JSON relative to the repo root, where jobs are run from."""
    given = Path(path)
    for candidate in (given, ROOT / given):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"training.deepspeed {path!r}: no such file (relative paths resolve against {ROOT})")


def stage_workloads(run_config: dict, model: PlannedModel, assumptions: Assumptions) -> list[Workload]:
    """The training stages the run config configures, as one GPU carries them. The warm-up that
    only a model built from scratch needs is left out when the base model is a checkpoint (it
    passes the checkpoint through untrained)."""
    ops = run_config.get("ops", {})

    def config(name: str) -> dict:
        return (ops.get(name) or {}).get("config") or {}

    sampling = FrameCacheConfig(**config("frame_cache")).sampling.to_library()
    from_scratch = BaseModelConfig(**config("base_model")).model == "tiny"
    workloads = []
    for stage in STAGES.values():
        if stage.model not in ops or (stage.only_from_scratch and not from_scratch):
            continue
        if stage.trainer == "sft":
            settings = SFT_CONFIGS.get(stage.name, SFTModelConfig)(**config(stage.model))
            grpo, loss_on_prompt = None, settings.loss_on != "assistant"
            logits_loss = settings.lm_head_loss == "logits"
        else:
            settings = GRPOModelConfig(**config(stage.model))
            grpo, loss_on_prompt, logits_loss = settings.rollouts.to_library(), False, False
        training = settings.training.to_library()
        zero = ZeroSettings.from_json(_deepspeed_json(training.deepspeed)) if training.deepspeed else ZeroSettings(stage=0)
        workloads.append(training_workload(stage, sampling, training, zero, model, assumptions, grpo, loss_on_prompt,
                                           logits_loss))
    return workloads


def evaluation_workloads(run_config: dict, assumptions: Assumptions) -> list[Workload]:
    """One workload per configured (model, benchmark) evaluation: its decoding and the benchmark's
    sampling (a benchmark without an annotation file is not evaluated; the synthetic one reads
    the data plane's eval split)."""
    ops = run_config.get("ops", {})
    models = [BASE_MODEL, CHECKPOINT, *(stage.model for stage in STAGES.values())]
    workloads = []
    for spec in BENCHMARKS.values():
        benchmark = BenchmarkConfig(**(ops.get(benchmark_asset_name(spec)) or {}).get("config") or {})
        if spec.name != "synthetic" and not benchmark.annotations:
            continue
        for model_name in models:
            op = eval_asset_key(model_name, spec.name).to_python_identifier()
            if op in ops:
                settings = EvaluationConfig(**(ops[op] or {}).get("config") or {}).to_library()
                workloads.append(evaluation_workload(benchmark.sampling.to_library(), settings, assumptions))
    return workloads


def recipe_plans(run_config: dict, model: PlannedModel, cluster: Cluster, assumptions: Assumptions) -> list[StagePlan]:
    """Every training stage's plan, and the evaluation's: the largest of its (model, benchmark) runs."""
    plans = [plan(workload, model, cluster) for workload in stage_workloads(run_config, model, assumptions)]
    evaluations = evaluation_workloads(run_config, assumptions)
    if evaluations:
        largest = max(evaluations, key=lambda workload: plan_stage(workload, model, cluster).peak)
        plans.append(plan(largest, model, cluster))
    return plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", type=Path,
                        help="a run-config file (repeat to merge several, as dagster's -c); default: the 7B recipes")
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--gpu-mem-gb", type=float, default=80.0,
                        help="memory of one GPU in GiB, as nvidia-smi counts it (an 80 GB card: 80)")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--reserve", type=float, default=Cluster().reserve,
                        help="share of each GPU kept free for the CUDA context, NCCL, DeepSpeed buffers, fragmentation")
    parser.add_argument("--prompt-tokens", type=int, default=Assumptions().prompt_text_tokens,
                        help="text tokens of a prompt (system prompt, instructions, question, options)")
    parser.add_argument("--sft-target-tokens", type=int, default=Assumptions().sft_target_tokens,
                        help="tokens of an SFT target (reasoning and answer)")
    parser.add_argument("--model-config", type=Path, help="a Qwen2.5-VL config.json; default: Qwen2.5-VL-7B")
    parser.add_argument("--json", type=Path, help="also write the plans here as JSON")
    args = parser.parse_args(argv)

    cluster = Cluster(gpus_per_node=args.gpus_per_node, gpu_memory_gib=args.gpu_mem_gb, nodes=args.nodes,
                      reserve=args.reserve)
    assumptions = Assumptions(prompt_text_tokens=args.prompt_tokens, sft_target_tokens=args.sft_target_tokens)
    if args.model_config:
        from transformers import Qwen2_5_VLConfig

        model = planned_model(Qwen2_5_VLConfig.from_dict(json.loads(args.model_config.read_text())),
                              args.model_config.parent.name or str(args.model_config))
    else:
        model = qwen2_5_vl_7b()
    recipes = {" + ".join(path.name for path in args.config): args.config} if args.config else RECIPES

    print(heading(model, cluster, assumptions))
    plans = [stage_plan for files in recipes.values()
             for stage_plan in recipe_plans(load_run_config(files), model, cluster, assumptions)]
    # training stages in the recipes' order, then evaluation: one row where the recipes evaluate alike
    rows: list[StagePlan] = []
    for stage_plan in sorted(plans, key=lambda p: p.workload.kind == "evaluation"):
        if stage_plan.workload not in (row.workload for row in rows):
            rows.append(stage_plan)
    if not rows:
        raise SystemExit("the run config configures no training stage and no evaluation: nothing to plan")
    print()
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"model": model.model_dump(), "cluster": cluster.model_dump(),
                                         "assumptions": assumptions.model_dump(),
                                         "stages": [row.model_dump() for row in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
