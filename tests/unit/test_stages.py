"""The registry of stages and arms: what each stage is, that arms chain, and that nothing outside
it spells a stage's or an arm's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from viss_r1.data.pretext_samples import TABLES
from viss_r1.rewards import stage_rewards
from viss_r1.stages import (
    ARMS,
    BASE_MODEL,
    FORMAT_WARMUP,
    FULL_VISS_R1,
    VIDEO_R1_BASELINE_ARM,
    CHECKPOINT,
    PRETEXT_GRPO_STAGE1,
    SSL_COT_SFT,
    STAGES,
    VIDEO_R1_GRPO,
    VISS_R1_GRPO,
    Arm,
    StageSpec,
    arm_jobs,
    scored_models,
    stage_making,
    stage_named,
    stages_of,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_paper_s_three_arms_start_from_one_shared_warm_up():
    assert {name: [stage.name for stage in arm.stages] for name, arm in ARMS.items()} == {
        "viss_r1_arm": ["format_warmup", "ssl_cot_sft", "viss_r1_grpo"],
        "pretext_grpo": ["format_warmup", "pretext_grpo_stage1", "pretext_grpo_stage2"],
        "video_r1_baseline": ["format_warmup", "cot_sft", "video_r1_grpo"],
    }
    # The leaderboard's rows, in order: the arms' scored models, then any checkpoint.
    assert scored_models(ARMS) == ("base_model", "sft_model", "viss_r1_model", "pretext_grpo_stage2_model",
                                   "grpo_baseline_model", "checkpoint")
    assert all(stage.samples in TABLES for stage in STAGES.values())
    assert [stage.name for stage in STAGES.values() if stage.start == BASE_MODEL] == [FORMAT_WARMUP.name]


def test_the_main_job_trains_both_of_the_paper_s_methods_and_every_arm_has_its_own_job():
    assert [job.name for job in arm_jobs(ARMS)] == ["viss_r1_arm", "pretext_grpo", "video_r1_baseline", "full_viss_r1"]
    assert [stage.name for stage in FULL_VISS_R1.stages] == [
        "format_warmup", "ssl_cot_sft", "viss_r1_grpo", "pretext_grpo_stage1", "pretext_grpo_stage2"]
    assert FULL_VISS_R1.scored == ("base_model", "sft_model", "viss_r1_model", "pretext_grpo_stage2_model")
    # A set of arms without the paper's two methods gets no main job (it could not resolve).
    assert [job.name for job in arm_jobs({VIDEO_R1_BASELINE_ARM.name: VIDEO_R1_BASELINE_ARM})] == ["video_r1_baseline"]
    assert all(stage.samples in TABLES for stage in STAGES.values())


@pytest.mark.parametrize("stage, table, prompt_format, transformed, kl, pretext_tag", [
    ("format_warmup", "cot", "r1", False, True, None),
    ("ssl_cot_sft", "cot", "transform_answer", True, True, "transform"),
    ("cot_sft", "cot", "r1", False, True, None),
    ("viss_r1_grpo", "video_questions", "transform_answer", True, False, "transform"),
    ("pretext_grpo_stage1", "questions", "pretext", True, True, "answer"),
    ("pretext_grpo_stage2", "questions", "r1", False, True, None),
    ("video_r1_grpo", "questions", "r1", False, True, None),
])
def test_each_stage_says_what_it_trains_on_and_how(stage, table, prompt_format, transformed, kl, pretext_tag):
    spec = stage_named(stage)
    assert (spec.samples, spec.prompt_format, spec.transform_media, spec.kl_in_loss, spec.pretext_tag) == (
        table, prompt_format, transformed, kl, pretext_tag)


def test_models_are_evaluated_in_the_prompt_they_were_trained_on():
    assert stage_making("sft_model").evaluation_prompt_format == "transform_answer"
    assert stage_making("viss_r1_model").evaluation_prompt_format == "transform_answer"
    assert stage_making("pretext_grpo_stage2_model").evaluation_prompt_format == "r1"
    assert stage_making(BASE_MODEL) is None and stage_making(CHECKPOINT) is None


def test_reward_windows_follow_the_release():
    assert VISS_R1_GRPO.rewards.length_window == (320, 768) and VISS_R1_GRPO.rewards.temporal_ratio == 1.0
    assert VIDEO_R1_GRPO.rewards.length_window == (320, 512) and VIDEO_R1_GRPO.rewards.temporal_ratio == 0.8
    assert SSL_COT_SFT.rewards is None
    funcs, _ = stage_rewards(PRETEXT_GRPO_STAGE1.prompt_format, PRETEXT_GRPO_STAGE1.rewards)
    assert funcs[0].__name__ == "pretext_accuracy_reward"


def test_a_broken_arm_or_stage_is_refused_with_the_reason():
    orphan = VISS_R1_GRPO.model_copy(update={"name": "orphan_grpo", "model": "orphan_model"})
    with pytest.raises(ValueError, match="starts from 'sft_model', which no earlier stage of the arm makes"):
        Arm(name="broken", stages=(orphan,), scored=(BASE_MODEL,), description="")
    with pytest.raises(ValueError, match=r"scores \['viss_r1_model'\], which it does not make"):
        Arm(name="broken", stages=(FORMAT_WARMUP, SSL_COT_SFT), scored=("viss_r1_model",), description="")
    with pytest.raises(ValueError, match="a GRPO stage needs rewards"):
        StageSpec(name="x", model="x_model", start=BASE_MODEL, trainer="grpo", samples="questions",
                  prompt_format="r1", transform_media=False)
    changed = VISS_R1_GRPO.model_copy(update={"kl_in_loss": True})
    clash = Arm(name="clash", stages=(FORMAT_WARMUP, SSL_COT_SFT, changed), scored=(BASE_MODEL,), description="")
    with pytest.raises(ValueError, match="stage 'viss_r1_grpo' is defined twice with different settings"):
        stages_of({**ARMS, "clash": clash})
    with pytest.raises(ValueError, match="stage 'nope' is unknown; the registered stages are format_warmup, ssl_cot_sft"):
        stage_named("nope")


def _names() -> set[str]:
    return ({stage.name for stage in STAGES.values()} | {stage.model for stage in STAGES.values()}
            | set(ARMS) | {FULL_VISS_R1.name})


# The pretext tables' draws are seeded by the tables' first names (one of them an arm's name
# today), so renaming the tables kept every drawn transform: that one dict may spell it.
SEED_SALTS = ("viss_r1/data/pretext_samples.py", "DRAW_KEYS")


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if str(path.relative_to(ROOT)) == SEED_SALTS[0]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == SEED_SALTS[1] for t in node.targets):
                skipped |= {id(child) for child in ast.walk(node.value)}
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skipped | docstrings]


def test_only_the_registry_spells_a_stage_or_an_arm():
    names = _names()
    found = []
    for folder in ("viss_r1", "assets", "pipelines", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "viss_r1" / "stages.py":
                continue
            found += [f"{path.relative_to(ROOT)}:{line}: {value!r}" for line, value in _literals(path)
                      if value in names]
    assert found == [], "stage or arm names outside viss_r1/stages.py:\n" + "\n".join(found)
