"""benchmarks/gpu_smoke.py: its --cpu plumbing check runs both stages through accelerate and
reports what the GPU run reports; without CUDA (and without --cpu) it stops at once, saying why."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_smoke.py"


def run_script(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false", **env})


@pytest.mark.slow
def test_cpu_plumbing_runs_sft_and_grpo_and_reports_both(tmp_path):
    report_file = tmp_path / "report.json"
    done = run_script("--cpu", "--sft-steps", "2", "--grpo-steps", "2", "--workdir", str(tmp_path / "work"),
                      "--json", str(report_file))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(report_file.read_text())
    assert report["deepspeed"] is None and report["bf16"] is False
    stages = report["stages"]
    assert set(stages) == {"sft", "grpo"}
    assert stages["sft"]["global_step"] == 2 and stages["grpo"]["global_step"] == 2
    for stage in stages.values():
        assert math.isfinite(stage["seconds_per_step"]) and stage["seconds_per_step"] > 0, stage
        assert stage["peak_gpu_memory_gb"] is None, stage   # not a CUDA run
    assert math.isfinite(stages["sft"]["final_loss"]), stages["sft"]
    assert math.isfinite(stages["grpo"]["mean_reward"]), stages["grpo"]
    assert "final loss / mean reward" in done.stdout   # the printed table


def test_without_cuda_it_stops_at_once_with_a_clear_message():
    done = run_script("--sft-steps", "1", CUDA_VISIBLE_DEVICES="")   # no GPU visible, even on a GPU machine
    assert done.returncode != 0
    assert "gpu_smoke needs a CUDA GPU: torch.cuda.is_available() is False" in done.stderr
    assert "--cpu" in done.stderr.strip().splitlines()[-1]
