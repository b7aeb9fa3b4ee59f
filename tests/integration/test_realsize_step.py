"""benchmarks/realsize_step.py: its --cpu --tiny run goes through all three parts (our GRPO step,
TRL's GRPOTrainer on the frames as images, an SSL-CoT SFT step) and reports every phase; without
CUDA (and without --cpu) it stops at once, saying why; the real sizes choose DeepSpeed or plain
bf16 by what fits the card."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "realsize_step.py"


def load_script():
    spec = importlib.util.spec_from_file_location("realsize_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false", **env})


@pytest.mark.slow
def test_cpu_tiny_runs_every_part_and_reports_every_phase(tmp_path):
    report_file = tmp_path / "report.json"
    done = run_script("--cpu", "--tiny", "--steps", "2", "--workdir", str(tmp_path / "work"), "--json", str(report_file))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(report_file.read_text())
    realsize = load_script()
    setup = report["setup"]
    assert setup["num_generations"] == realsize.TINY["num_generations"]
    assert setup["completion_tokens"] == realsize.TINY["completion"]
    assert setup["num_frames"] == realsize.TINY["num_frames"] and setup["activation_checkpointing"] is True
    assert report["model"]["vocab_size"] > report["model"]["tokenizer_size"]   # the real-size layout, in small
    assert set(report["parts"]) == {"ours", "trl", "sft"}

    vision = {}
    for name in ("ours", "trl"):
        part = report["parts"][name]
        assert "error" not in part, part.get("log_tail")
        assert part["deepspeed"] is None and len(part["steps"]) == 2
        measured = part["measured"]
        for phase in realsize.GRPO_PHASES:
            assert measured[phase] > 0, (name, phase, measured)
        assert measured["step_s"] >= sum(measured[phase] for phase in realsize.GRPO_PHASES)
        # min_new_tokens: every rollout is exactly the completion length, in both trainers
        assert measured["rollouts"] == setup["num_generations"]
        assert measured["rollout_tokens"] == setup["num_generations"] * setup["completion_tokens"]
        assert math.isfinite(measured["rollout_tokens_per_s"]) and measured["rollout_tokens_per_s"] > 0
        assert measured["peak_memory_gb"] > 0
        vision[name] = measured["vision_tokens_per_prompt"]
    # frames as images: the same vision tokens in every prompt as the clip as video
    assert vision["ours"] == vision["trl"] > 0
    assert report["parts"]["ours"]["kl_in_loss"] is False   # ViSS-R1's RL stage: KL logged only

    sft = report["parts"]["sft"]
    assert "error" not in sft, sft.get("log_tail")
    for phase in realsize.SFT_PHASES:
        assert sft["measured"][phase] > 0, (phase, sft["measured"])
    assert sft["measured"]["tokens"] > 0 and sft["measured"]["tokens_per_s"] > 0
    assert sft["measured"]["peak_memory_gb"] > 0
    assert report["ours_over_trl"] > 0
    assert "ours / TRL step time" in done.stdout and "SSL-CoT SFT step" in done.stdout


def test_without_cuda_it_stops_at_once_with_a_clear_message():
    done = run_script("--size", "3b", CUDA_VISIBLE_DEVICES="")
    assert done.returncode != 0
    assert "realsize_step needs a CUDA GPU: torch.cuda.is_available() is False" in done.stderr
    assert "--cpu --tiny" in done.stderr.strip().splitlines()[-1]


def test_a_real_size_does_not_run_on_the_cpu():
    done = run_script("--cpu", "--size", "7b")
    assert done.returncode != 0 and "pass --cpu --tiny" in done.stderr


def test_deepspeed_where_its_state_fits_the_card_else_plain_bf16():
    from viss_r1.modeling.sizes import QWEN2_5_VL_DIMS, count_parameters, qwen2_5_vl_config
    from viss_r1.modeling.tiny import train_tokenizer

    realsize = load_script()
    tokenizer = train_tokenizer(["a tokenizer for the special tokens"] * 10, 300)
    parameters = {size: count_parameters(qwen2_5_vl_config(QWEN2_5_VL_DIMS[size], tokenizer)) for size in ("3b", "7b")}
    card = 141 * 2**30   # one H200
    recipe = realsize.recipe()
    grpo_file = recipe["grpo"]["training"]["deepspeed"]
    sft_file = recipe["sft"]["training"]["deepspeed"]
    assert grpo_file.endswith("zero3.json") and sft_file.endswith("zero2.json")
    chosen, why = realsize.choose_deepspeed(grpo_file, parameters["3b"], card, reference=True)
    assert chosen == grpo_file, why
    assert realsize.choose_deepspeed(sft_file, parameters["3b"], card, reference=False)[0] == sft_file
    chosen, why = realsize.choose_deepspeed(grpo_file, parameters["7b"], card, reference=True)
    assert chosen is None and "plain bf16" in why and grpo_file in why
    assert realsize.choose_deepspeed(sft_file, parameters["7b"], card, reference=False)[0] is None
    assert realsize.choose_deepspeed(grpo_file, parameters["3b"], None, reference=True) == (None, "CPU: fp32, no DeepSpeed")
