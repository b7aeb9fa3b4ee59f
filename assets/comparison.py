"""The arms compared over training seeds (``benchmarks/compare_arms.py``): an asset no job builds,
declared so the comparison that script reports shows in the UI beside the evaluations it reads."""

import dagster as dg

from assets.evaluation import GROUP, eval_asset_key
from viss_r1.evaluate.benchmarks import BENCHMARKS
from viss_r1.evaluate.comparison import compared_stages
from viss_r1.stages import Arm

ARM_COMPARISON = "arm_comparison"
DESCRIPTION = ("The arms over training seeds: per arm, mean and 95 % bootstrap interval of each condition's "
               "accuracy, visual reliance and pretext accuracy. Reported by benchmarks/compare_arms.py "
               "(a runless materialization), not built by a job.")


def arm_comparison_spec(arms: dict[str, Arm]) -> dg.AssetSpec:
    """Downstream of the evaluations of the model that stands for each arm (``compared_stage``)."""
    models = [stage.model for stage in compared_stages(arms).values()]
    return dg.AssetSpec(ARM_COMPARISON, group_name=GROUP, description=DESCRIPTION,
                        deps=[eval_asset_key(model, spec.name) for model in models for spec in BENCHMARKS.values()])
