"""A smoke run config: every stage of any job in a minute or two on a CPU — a very small tiny model,
a few clips, two steps a stage, short answers. It proves the plumbing (every asset builds, is
scored, lands on the leaderboard and in MLflow); nothing learns. The CLI job test and
``benchmarks/compare_arms.py --tiny`` run with it; the embedded default's learning is measured by
``benchmarks/learning_check.py`` after ``make run``.

    python -m pipelines.smoke full_viss_r1 > smoke.yaml
    dagster job execute -j full_viss_r1 -c smoke.yaml
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.stages import ARMS, BASE_MODEL, STAGES

SMOKE_CLIPS = {"num_train": 12, "num_eval": 6}
SMOKE_MODEL = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1,
               "vision_depth": 1, "vision_hidden_size": 16, "vision_heads": 1,
               "vision_pretraining_steps": 2, "vision_pretraining_clips": 2, "vision_pretraining_batch_size": 1}
SMOKE_STEPS = {"max_steps": 2, "save_steps": 2, "logging_steps": 1}
SMOKE_SFT = {"training": {**SMOKE_STEPS, "per_device_train_batch_size": 2}}
SMOKE_GRPO = {"training": SMOKE_STEPS,
              "rollouts": {"num_generations": 2, "max_completion_length": 8, "rollout_table_steps": 1}}
SMOKE_EVAL = {"decoding": {"max_new_tokens": 6, "batch_size": 8}}


def smoke_run_config(nodes: set[str] | None = None) -> dict[str, Any]:
    """The smoke config of every stage and every scored model (from the registry), keeping only the
    ops in ``nodes`` when given (Dagster refuses config for ops a job does not have)."""
    from assets.checks import LEARNING_SIGNAL
    from assets.evaluation import eval_asset_key

    ops: dict[str, Any] = {"video_sources": {"config": {"synthetic": SMOKE_CLIPS}},
                           BASE_MODEL: {"config": {"tiny": SMOKE_MODEL}}}
    for stage in STAGES.values():
        ops[stage.model] = {"config": SMOKE_SFT if stage.trainer == "sft" else SMOKE_GRPO}
    for model in dict.fromkeys(model for arm in ARMS.values() for model in arm.scored):
        for spec in BENCHMARKS.values():
            ops[eval_asset_key(model, spec.name).to_python_identifier()] = {"config": SMOKE_EVAL}
    if nodes is not None:
        ops = {op: value for op, value in ops.items() if op in nodes}
    # Two GRPO steps from a two-step warm-up prove the plumbing, not learning: the check that a
    # stage had a learning signal would (rightly) stop them.
    return {"ops": ops, "resources": {LEARNING_SIGNAL: {"config": {"max_fraction_without_signal": 1.0}}}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", help="the job the config is for, e.g. full_viss_r1")
    job = parser.parse_args(argv).job
    from pipelines.definitions import defs

    print(yaml.safe_dump(smoke_run_config(set(defs.resolve_job_def(job).graph.node_dict)), sort_keys=False), end="")


if __name__ == "__main__":
    main()
