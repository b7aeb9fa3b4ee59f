"""The training assets of a set of stages (``viss_r1.stages``): one asset per stage, SFT or GRPO."""

import dagster as dg

from assets.models import sft_asset
from assets.rl import grpo_asset
from viss_r1.stages import StageSpec


def training_assets(stages: dict[str, StageSpec], retry_policy: dg.RetryPolicy | None = None
                    ) -> list[dg.AssetsDefinition]:
    return [(sft_asset if stage.trainer == "sft" else grpo_asset)(stage, retry_policy) for stage in stages.values()]
