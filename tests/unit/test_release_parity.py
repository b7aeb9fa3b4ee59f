"""The README's "Parity with the authors' release" table, checked against the 7B run configs.

Each row the table says matches names the setting as the table does; the test reads the value
from the config file the row is about and compares it with the release's value, read off the
release (the file named in the README row). A row whose setting is edited away from the release
fails here, and a row renamed in the README without this list fails too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "infra" / "configs"
VISS_R1 = "viss_r1_qwen2_5_vl_7b.yaml"
PRETEXT = "pretext_grpo_qwen2_5_vl_7b.yaml"
BASELINE = "video_r1_baseline_qwen2_5_vl_7b.yaml"
EVALUATE = "evaluate_qwen2_5_vl_7b.yaml"
BENCHMARKS = "benchmarks_7b.yaml"
DATA = "video_r1_data.yaml"

# (README row, config file, dotted path into it, the release's value)
MATCHING = [
    ("frames per clip", VISS_R1, "ops.frame_cache.config.sampling.num_frames", 32),
    ("frames per clip", PRETEXT, "ops.frame_cache.config.sampling.num_frames", 16),
    ("frames per clip", BENCHMARKS, "ops.benchmark_mvbench.config.sampling.num_frames", 32),
    ("frames per clip", BASELINE, "ops.frame_cache.config.sampling.fps", 2.0),
    ("frames per clip", BASELINE, "ops.frame_cache.config.sampling.max_frames", 16),
    ("video pixels", VISS_R1, "ops.frame_cache.config.sampling.min_pixels", 128 * 28 * 28),
    ("video pixels", VISS_R1, "ops.frame_cache.config.sampling.max_pixels", 128 * 28 * 28),
    ("video pixels", BENCHMARKS, "ops.benchmark_mvbench.config.sampling.max_pixels", 256 * 28 * 28),
    ("image pixels", VISS_R1, "ops.frame_cache.config.sampling.image_min_pixels", 4 * 28 * 28),
    ("image pixels", VISS_R1, "ops.frame_cache.config.sampling.image_max_pixels", 256 * 28 * 28),
    # Pretext-GRPO's data plane is video_r1_data.yaml's, refined by its own file.
    ("image pixels", DATA, "ops.frame_cache.config.sampling.image_max_pixels", 256 * 28 * 28),
    ("prompt wording", VISS_R1, "ops.sft_model.config.prompt_wording", "release"),
    ("prompt wording", VISS_R1, "ops.viss_r1_model.config.prompt_wording", "release"),
    ("prompt wording", VISS_R1, "ops.eval__viss_r1_model__mvbench.config.prompt_wording", "release"),
    ("prompt wording", PRETEXT, "ops.pretext_grpo_model.config.prompt_wording", "release"),
    ("prompt wording", BASELINE, "ops.grpo_baseline_model.config.prompt_wording", "release"),
    ("prompt wording", EVALUATE, "ops.eval__checkpoint__mvbench.config.prompt_wording", "release"),
    ("active transforms", VISS_R1, "ops.pretext_samples.config.preset", "release"),
    ("active transforms", PRETEXT, "ops.pretext_samples.config.preset", "release"),
    ("reward terms and weights", VISS_R1, "ops.viss_r1_model.config.rewards", {}),
    ("T-GRPO", BASELINE, "ops.grpo_baseline_model.config.rewards.temporal", True),
    ("rollouts per prompt (G)", VISS_R1, "ops.viss_r1_model.config.rollouts.num_generations", 8),
    ("rollouts per prompt (G)", PRETEXT, "ops.pretext_grpo_model.config.rollouts.num_generations", 8),
    ("rollout temperature and top_p", VISS_R1, "ops.viss_r1_model.config.rollouts.temperature", 1.0),
    ("rollout temperature and top_p", VISS_R1, "ops.viss_r1_model.config.rollouts.top_p", 0.95),
    ("completion length", VISS_R1, "ops.viss_r1_model.config.rollouts.max_completion_length", 768),
    ("β and where KL enters", VISS_R1, "ops.viss_r1_model.config.rollouts.beta", 0.04),
    ("β and where KL enters", VISS_R1, "ops.viss_r1_model.config.rollouts.kl_in_loss", None),
    ("β and where KL enters", PRETEXT, "ops.pretext_grpo_model.config.rollouts.beta", 0.04),
    ("β and where KL enters", BASELINE, "ops.grpo_baseline_model.config.rollouts.beta", 0.04),
    ("learning rate and its horizon", VISS_R1, "ops.sft_model.config.training.learning_rate", 1e-6),
    ("learning rate and its horizon", VISS_R1, "ops.sft_model.config.training.num_train_epochs", 1.0),
    ("learning rate and its horizon", VISS_R1, "ops.viss_r1_model.config.training.learning_rate", 1e-6),
    ("learning rate and its horizon", VISS_R1, "ops.viss_r1_model.config.training.lr_scheduler_type", "cosine"),
    ("learning rate and its horizon", VISS_R1, "ops.viss_r1_model.config.training.schedule_horizon_epochs", 1.0),
    ("learning rate and its horizon", PRETEXT, "ops.pretext_grpo_model.config.training.schedule_horizon_epochs", 1.0),
    ("learning rate and its horizon", BASELINE,
     "ops.grpo_baseline_model.config.training.schedule_horizon_epochs", 1.0),
    ("batch", VISS_R1, "ops.sft_model.config.training.gradient_accumulation_steps", 2),
    ("batch", VISS_R1, "ops.sft_model.config.training.per_device_train_batch_size", 1),
    ("batch", VISS_R1, "ops.viss_r1_model.config.training.per_device_train_batch_size", 1),
    ("weight decay and clipping", VISS_R1, "ops.viss_r1_model.config.training.weight_decay", 0.01),
    ("weight decay and clipping", VISS_R1, "ops.viss_r1_model.config.training.max_grad_norm", 5.0),
    ("weight decay and clipping", VISS_R1, "ops.sft_model.config.training.max_grad_norm", 5.0),
    ("steps", VISS_R1, "ops.viss_r1_model.config.training.max_steps", 2000),
    ("steps", BASELINE, "ops.grpo_baseline_model.config.training.max_steps", 1200),
    ("SFT loss masking", VISS_R1, "ops.sft_model.config.loss_on", "all_but_padding_and_image_pad"),
    ("SFT data as released", VISS_R1, "ops.sft_model.config.empty_clip_fraction", 0.0),
    ("SFT data as released", BASELINE, "ops.cot_sft_model.config.empty_clip_fraction", 0.0),
    ("SFT data as released", VISS_R1, "ops.sft_model.config.thought_names_transform", False),
    ("SFT data as released", VISS_R1, "ops.sft_model.config.rehearsal_fraction", 0.0),
    ("SFT data as released", VISS_R1, "ops.sft_model.config.length_grouped_batches", False),
    ("SFT data as released", BASELINE, "ops.cot_sft_model.config.length_grouped_batches", False),
    ("evaluation decoding", VISS_R1, "ops.eval__viss_r1_model__mvbench.config.decoding.temperature", 0.1),
    ("evaluation decoding", VISS_R1, "ops.eval__viss_r1_model__mvbench.config.decoding.top_p", 0.001),
    ("evaluation decoding", VISS_R1, "ops.eval__viss_r1_model__mvbench.config.decoding.max_new_tokens", 1024),
    ("evaluation decoding", EVALUATE, "ops.eval__checkpoint__mvbench.config.decoding.temperature", 0.1),
    ("evaluation decoding", BASELINE, "ops.eval__grpo_baseline_model__mvbench.config.decoding.temperature", 0.1),
    ("base model", VISS_R1, "ops.base_model.config.model", "Qwen/Qwen2.5-VL-7B-Instruct"),
]


# (README row, config file, dotted path, our value) of the rows whose last column names a deliberate
# difference that is a setting: the config must say what the row says we run.
DELIBERATE = [
    ("SFT loss computation", VISS_R1, "ops.sft_model.config.lm_head_loss", "fused"),
    ("SFT loss computation", BASELINE, "ops.cot_sft_model.config.lm_head_loss", "fused"),
]


def value_at(file: str, dotted: str):
    node = yaml.safe_load((CONFIGS / file).read_text())
    for part in dotted.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize("row, file, path, release", MATCHING, ids=[f"{f}:{p}" for _, f, p, _ in MATCHING])
def test_7b_configs_carry_the_release_value_the_parity_table_claims(row, file, path, release):
    assert value_at(file, path) == release, f"README parity row {row!r}: {file} {path}"


@pytest.mark.parametrize("row, file, path, ours", DELIBERATE, ids=[f"{f}:{p}" for _, f, p, _ in DELIBERATE])
def test_7b_configs_carry_the_deliberate_difference_the_parity_table_names(row, file, path, ours):
    assert value_at(file, path) == ours, f"README parity row {row!r}: {file} {path}"


def test_every_checked_row_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Parity with the authors' release"):]
    table = table[:table.index("\n## ", 1)]
    rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")}
    checked = {row for row, *_ in MATCHING + DELIBERATE}
    assert checked <= rows, sorted(checked - rows)
