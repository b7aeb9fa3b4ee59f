"""A plan as a Markdown table: one row per stage, GiB per GPU."""

from __future__ import annotations

from typing import Sequence

from viss_r1.planning.memory import GIB
from viss_r1.planning.model import PlannedModel
from viss_r1.planning.plan import Cluster, StagePlan
from viss_r1.planning.workloads import Assumptions

COLUMNS = ("stage", "media", "per GPU", "tokens / sequence", "ZeRO", "model states", "reference",
           "activations: no ckpt / ckpt", "rollouts", "peak", "fits", "change")


def gib(value: int) -> str:
    return f"{value / GIB:.1f}"


def _per_gpu(plan: StagePlan) -> str:
    w = plan.workload
    if w.kind == "grpo":
        return f"{w.prompts_per_gpu} prompt × {w.generations} rollouts"
    if w.kind == "evaluation":
        return f"batch {w.prompts_per_gpu} (1 GPU)"
    return f"{w.prompts_per_gpu} sample"


def _activations(plan: StagePlan) -> str:
    if plan.workload.kind == "evaluation":
        return "—"
    without, with_ = gib(plan.activations), gib(plan.activations_checkpointed)
    if plan.workload.activation_checkpointing:
        return f"{without} / **{with_}**"
    return f"**{without}** / {with_}"


def _rollouts(plan: StagePlan) -> str:
    w = plan.workload
    if w.kind == "sft":
        return "—"
    text = gib(plan.rollouts)
    if plan.server:
        text += f" (vLLM server GPU: {gib(plan.server)})"
    return text


def row(plan: StagePlan) -> list[str]:
    w = plan.workload
    new = {"sft": "target", "grpo": "completion", "evaluation": "answer"}[w.kind]
    return [w.stage, w.media.label, _per_gpu(plan),
            f"{plan.tokens:,} ({plan.patches:,} patches; {w.new_tokens:,} {new})",
            "—" if w.kind == "evaluation" else w.zero.label,
            gib(plan.model_states), gib(plan.reference) if plan.reference else "—", _activations(plan),
            _rollouts(plan), gib(plan.peak), "yes" if plan.fits else "**no**", plan.change or "—"]


def markdown_table(plans: Sequence[StagePlan]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(plan)) + " |" for plan in plans]
    return "\n".join(lines)


def heading(model: PlannedModel, cluster: Cluster, assumptions: Assumptions) -> str:
    params = model.parameters
    return (f"{model.name} ({params.total / 1e9:.2f}B parameters, largest layer {params.largest_layer / 1e6:.0f}M) on "
            f"{cluster.label}: {cluster.usable / GIB:.1f} GiB usable per GPU ({cluster.reserve:.0%} reserved). "
            f"GiB per GPU; prompts of {assumptions.prompt_text_tokens} text tokens, SFT targets of "
            f"{assumptions.sft_target_tokens} tokens; the configured activation setting in bold.")
