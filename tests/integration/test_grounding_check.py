"""benchmarks/grounding_check.py runs end to end on a few clips and prints its three lines."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_few_steps_print_loss_and_clean_against_blind_accuracy():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "grounding_check.py"), "--steps", "3", "--batch-size", "2",
         "--train-clips", "4", "--held-out-clips", "6", "--vision-pretraining-steps", "2",
         "--vision-pretraining-clips", "2", "--shuffled-options"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()[-3:]
    assert lines[0].startswith("scene motion_direction, options shuffled, vision tower pretrained 2 steps")
    assert re.match(r"3 steps × 2 of 4 clips: loss [\d.]+ → [\d.]+$", lines[1]), lines[1]
    clean, blind, chance = map(float, re.search(
        r"clean ([\d.]+) %, blind ([\d.]+) %, visual reliance [+-][\d.]+, chance ([\d.]+) %", lines[2]).groups())
    assert chance == 25.0
    assert all(abs(value * 6 / 100 - round(value * 6 / 100)) < 0.01 for value in (clean, blind))   # k of 6 clips
