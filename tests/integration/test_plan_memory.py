"""benchmarks/plan_memory.py: the 7B recipes' run configs resolved as the assets resolve them, one
table per cluster shape, and the README's tables are its output."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "plan_memory.py"
STAGE_ROWS = {"ssl_cot_sft", "viss_r1_grpo", "pretext_grpo_stage1", "pretext_grpo_stage2", "evaluation"}


@pytest.fixture(scope="module")
def planner():
    spec = importlib.util.spec_from_file_location("plan_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(output: str) -> dict[str, dict[str, str]]:
    """The printed Markdown table: stage → column → cell."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0]: dict(zip(header, row)) for row in rows}


def run(planner, capsys, *args: str) -> str:
    assert planner.main(list(args)) == 0
    return capsys.readouterr().out


def test_the_recipes_settings_are_read_as_the_stages_run_them(planner):
    from viss_r1.planning.model import qwen2_5_vl_7b
    from viss_r1.planning.workloads import Assumptions

    model, assumptions = qwen2_5_vl_7b(), Assumptions()
    viss_r1 = planner.load_run_config(planner.RECIPES["ViSS-R1"])
    stages = {w.stage: w for w in planner.stage_workloads(viss_r1, model, assumptions)}
    assert set(stages) == {"ssl_cot_sft", "viss_r1_grpo"}   # the warm-up passes a checkpoint through untrained
    sft, grpo = stages["ssl_cot_sft"], stages["viss_r1_grpo"]
    assert (sft.media.frames, sft.media.max_pixels, sft.zero.stage, sft.loss_on_prompt) == (32, 128 * 28 * 28, 2, True)
    assert (grpo.generations, grpo.new_tokens, grpo.zero.stage, grpo.reference_model, grpo.activation_checkpointing) == \
        (8, 768, 3, True, True)
    assert grpo.media.image_max_pixels == 0                 # the ViSS-R1 RL stage trains on video only
    evaluation = planner.evaluation_workloads(viss_r1, assumptions)
    assert {(w.media.frames, w.media.max_pixels, w.prompts_per_gpu, w.new_tokens) for w in evaluation
            if w.media.max_pixels == 256 * 28 * 28} == {(32, 256 * 28 * 28, 8, 1024)}
    pretext = planner.load_run_config(planner.RECIPES["Pretext-GRPO"])
    stages = {w.stage: w for w in planner.stage_workloads(pretext, model, assumptions)}
    assert set(stages) == {"pretext_grpo_stage1", "pretext_grpo_stage2"}
    assert {w.media.frames for w in stages.values()} == {16}   # the overlay's 16 frames win over the data file's 32


def test_the_7b_recipes_fit_8_gpus_of_80_gb(planner, capsys):
    rows = table(run(planner, capsys, "--gpus-per-node", "8", "--gpu-mem-gb", "80", "--nodes", "1"))
    assert set(rows) == STAGE_ROWS
    assert {row["fits"] for row in rows.values()} == {"yes"}
    assert rows["viss_r1_grpo"]["ZeRO"] == "ZeRO-3" and rows["ssl_cot_sft"]["ZeRO"] == "ZeRO-2"


def test_on_8_gpus_of_40_gb_the_training_stages_get_a_change(planner, capsys):
    rows = table(run(planner, capsys, "--gpu-mem-gb", "40"))
    assert rows["ssl_cot_sft"]["fits"] == "**no**" and rows["ssl_cot_sft"]["change"].startswith("ZeRO-3")
    for stage in ("viss_r1_grpo", "pretext_grpo_stage1", "pretext_grpo_stage2"):
        assert rows[stage]["fits"] == "**no**" and "offload_optimizer" in rows[stage]["change"], rows[stage]
    assert rows["evaluation"]["fits"] == "yes" and rows["evaluation"]["change"] == "—"


def test_a_run_config_overlay_changes_the_plan(planner, capsys, tmp_path):
    overlay = tmp_path / "no_checkpointing.yaml"
    overlay.write_text(yaml.safe_dump({"ops": {"viss_r1_model": {"config": {"training": {"activation_checkpointing": False}}}}}))
    base = planner.RECIPES["ViSS-R1"]
    rows = table(run(planner, capsys, *sum((["--config", str(path)] for path in [*base, overlay]), [])))
    grpo = rows["viss_r1_grpo"]
    without, with_ = grpo["activations: no ckpt / ckpt"].split(" / ")
    assert without.startswith("**") and not with_.startswith("**")   # the configured one is marked
    assert grpo["fits"] == "**no**" and grpo["change"] == "training.activation_checkpointing: true"
    assert rows["ssl_cot_sft"]["fits"] == "yes"


@pytest.mark.parametrize("gpu_gib", ["80", "40"])
def test_the_readmes_tables_are_the_commands_output(planner, capsys, gpu_gib):
    output = run(planner, capsys, "--gpus-per-node", "8", "--gpu-mem-gb", gpu_gib, "--nodes", "1")
    printed = "\n".join(line for line in output.splitlines() if line.startswith("|"))
    assert printed in (ROOT / "README.md").read_text(), \
        f"README's 8 × {gpu_gib} GiB plan is not the command's output; paste it again:\n{printed}"


def test_a_config_json_in_the_published_layout_plans_the_same_model(planner, capsys, tmp_path):
    """``--model-config`` reads a checkpoint's config.json (the published one keeps the text model's
    fields at the top, RoPE under rope_scaling): written out for Qwen2.5-VL-7B it gives the model the
    built-in dimensions give."""
    import json

    from viss_r1.planning.model import QWEN2_5_VL_7B_TEXT, QWEN2_5_VL_7B_TOKENS, QWEN2_5_VL_7B_VISION, qwen2_5_vl_7b

    text = {key: value for key, value in QWEN2_5_VL_7B_TEXT.items() if key != "rope_parameters"}
    rope = QWEN2_5_VL_7B_TEXT["rope_parameters"]
    published = {"model_type": "qwen2_5_vl", **text, **QWEN2_5_VL_7B_TOKENS, "rope_theta": rope["rope_theta"],
                 "rope_scaling": {"type": "mrope", "mrope_section": rope["mrope_section"]},
                 "vision_config": QWEN2_5_VL_7B_VISION}
    folder = tmp_path / "Qwen2.5-VL-7B-Instruct"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(published))
    report = tmp_path / "plan.json"
    run(planner, capsys, "--model-config", str(folder / "config.json"), "--json", str(report))
    planned = json.loads(report.read_text())["model"]
    builtin = qwen2_5_vl_7b()
    assert planned["name"] == "Qwen2.5-VL-7B-Instruct"
    assert planned["dims"] == builtin.dims.model_dump() and planned["parameters"] == builtin.parameters.model_dump()
