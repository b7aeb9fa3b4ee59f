"""SFT runs for real on the tiny model: video reaches the loss forward, the loss falls, and a
killed run resumes from its last checkpoint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from assets.launcher import StageLauncher
from console_output import assert_progress_lines_not_trainer_dicts
from viss_r1.modeling.video_inputs import VIDEO_FIELDS
from viss_r1.process import write_config
from viss_r1.train.config import OptimSettings, SFTRunConfig
from viss_r1.train.sft import run_sft

FAST = dict(learning_rate=3e-3, lr_scheduler_type="constant", bf16=False, activation_checkpointing=False,
            per_device_train_batch_size=4, gradient_accumulation_steps=1, max_grad_norm=1.0, logging_steps=1, seed=0)


def sft_config(tiny_sft, output_dir: Path, **training) -> SFTRunConfig:
    return SFTRunConfig(stage="ssl_cot_sft", model=str(tiny_sft.model_dir), output_dir=str(output_dir), samples=str(tiny_sft.samples),
                        frame_shards=[str(p) for p in tiny_sft.shard_files],
                        training=OptimSettings(**{**FAST, **training}))


def test_video_reaches_the_loss_forward_and_the_loss_falls(tiny_sft, tmp_path, capsys):
    seen: list[set] = []

    class RecordForwardInputs(TrainerCallback):
        """A forward pre-hook: sees exactly what the trainer passes to the model's forward."""

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            def record(module, args, kwargs):
                seen.append({k for k, v in kwargs.items() if v is not None})
            model.register_forward_pre_hook(record, with_kwargs=True)

    result = run_sft(sft_config(tiny_sft, tmp_path, max_steps=30, save_steps=100), callbacks=[RecordForwardInputs()])
    assert len(seen) >= 30 and all(set(VIDEO_FIELDS) | {"labels"} <= fields for fields in seen)
    assert result["global_step"] == 30 and result["resumed_from"] is None
    assert result["last_loss"] < 0.5 * result["first_loss"], result["losses"]
    assert (tmp_path / "final" / "model.safetensors").is_file()
    assert (tmp_path / "final" / "processor_config.json").is_file()
    assert_progress_lines_not_trainer_dicts(capsys.readouterr().out, steps=30, metric="loss")


@pytest.mark.slow
@pytest.mark.parametrize("lm_head_loss", ["fused", "logits"])   # the 7B configs', the embedded default's
def test_a_killed_run_resumes_from_its_last_checkpoint(tiny_sft, tmp_path, kill_after_checkpoint, lm_head_loss):
    config = sft_config(tiny_sft, tmp_path, max_steps=12, save_steps=3).model_copy(update={"lm_head_loss": lm_head_loss})
    config = write_config(config, tmp_path / "sft.yaml")
    command = [sys.executable, "-m", "viss_r1.train.sft", "--config", str(config)]
    checkpoints = tmp_path / "checkpoints"
    killed_at = kill_after_checkpoint(command, tmp_path, step=6, timeout=240)
    history = json.loads((checkpoints / f"checkpoint-{killed_at}" / "trainer_state.json").read_text())["log_history"]

    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["resumed_from"].endswith(f"checkpoint-{killed_at}")
    assert result["global_step"] == 12
    assert [step for step, _ in result["losses"]] == list(range(killed_at + 1, 13))  # only the missing steps ran
    # ...from the checkpoint's weights, not the initial ones (transformers' own resume loads none of
    # Qwen2.5-VL's renamed keys): the loss goes on near where the killed run left it.
    first_loss = next(entry["loss"] for entry in history if "loss" in entry)
    killed_loss = [entry["loss"] for entry in history if "loss" in entry][-1]
    assert result["losses"][0][1] < killed_loss + 0.5 * (first_loss - killed_loss), (first_loss, killed_loss, result)


@pytest.mark.slow
@pytest.mark.parametrize("launcher, ranks", [("accelerate", 1), ("torchrun", 2)])
def test_runs_under_accelerate_and_torchrun(tiny_sft, tmp_path, launcher, ranks):
    """The launcher resource's command lines; torchrun with two CPU ranks (gloo): every rank
    trains, only the main one writes the result and the model."""
    config = write_config(sft_config(tiny_sft, tmp_path, max_steps=3, save_steps=100, per_device_train_batch_size=2),
                          tmp_path / "sft.yaml")
    launcher_args = {"accelerate": ["--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                                    "--dynamo_backend", "no"],
                     "torchrun": ["--nproc_per_node", "2", "--standalone"]}[launcher]
    command = StageLauncher(launcher=launcher, launcher_args=launcher_args).command("viss_r1.train.sft", str(config))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["global_step"] == 3 and result["world_size"] == ranks
    assert (tmp_path / "final" / "model.safetensors").is_file()


def test_the_schedule_horizon_and_the_loss_setting_reach_the_trainer(tiny_sft, tmp_path):
    import math

    rates, labelled = [], []

    class Record(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            model.register_forward_pre_hook(lambda m, a, kw: labelled.append(int((kw["labels"] != -100).sum())),
                                            with_kwargs=True)

        def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
            rates.append(lr_scheduler.get_last_lr()[0])

    config = sft_config(tiny_sft, tmp_path, max_steps=2, save_steps=100, lr_scheduler_type="cosine",
                        schedule_horizon_steps=20).model_copy(update={"loss_on": "all_but_padding_and_image_pad"})
    result = run_sft(config, callbacks=[Record()])
    assert result["global_step"] == 2
    assert rates[-1] == FAST["learning_rate"] * (0.5 * (1.0 + math.cos(math.pi * 0.1)))   # step 2 of 20, not 0
    # As the release: every token but padding (and image placeholders; these rows are videos) is labelled.
    assert len(labelled) == 2 and sum(labelled) == result["tokens_seen"]


def test_a_rehearsal_fraction_trains_part_of_the_rows_in_the_warm_ups_format(tiny_sft, tmp_path):
    """Through the stage's own run config: with ``rehearsal_fraction`` the SSL-CoT SFT's forward sees
    rows asked in Video-R1's format (no transform question, no <transform> target) beside its own;
    without it, only its own."""
    from transformers import AutoProcessor

    tokenizer = AutoProcessor.from_pretrained(tiny_sft.model_dir).tokenizer

    def trained_texts(fraction: float, folder: Path) -> list[str]:
        texts: list[str] = []

        class RecordInputIds(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kwargs):
                model.register_forward_pre_hook(
                    lambda module, args, kwargs: texts.extend(tokenizer.batch_decode(kwargs["input_ids"])),
                    with_kwargs=True)

        config = sft_config(tiny_sft, folder, max_steps=4, save_steps=100).model_copy(
            update={"rehearsal_fraction": fraction})
        run_sft(config, callbacks=[RecordInputIds()])
        return texts

    def asked_with_transform(text: str) -> bool:
        return "Transform question" in text and "<transform>" in text

    rehearsing = trained_texts(0.5, tmp_path / "rehearsal")
    plain = trained_texts(0.0, tmp_path / "none")
    assert len(rehearsing) == len(plain) == 16
    assert all(asked_with_transform(text) for text in plain)
    asked = [asked_with_transform(text) for text in rehearsing]
    assert 0 < sum(asked) < len(asked), asked
    assert all("Transform question" not in text and "<transform>" not in text
               for text, transformed in zip(rehearsing, asked) if not transformed)


def test_length_grouped_batches_train_the_same_rows_with_less_padding(tiny_sft, tmp_path):
    """Through the stage's run config, one epoch of 8 rows, half of them rehearsed (shorter): grouped,
    one batch holds the 4 shortest rows and the other the 4 longest; the same tokens are trained."""

    def batch_lengths(grouped: bool, folder: Path) -> tuple[list[list[int]], dict]:
        batches: list[list[int]] = []

        class RecordRowLengths(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kwargs):
                model.register_forward_pre_hook(
                    lambda module, args, kwargs: batches.append(kwargs["attention_mask"].sum(1).tolist()),
                    with_kwargs=True)

        config = sft_config(tiny_sft, folder, num_train_epochs=1, save_steps=100).model_copy(
            update={"rehearsal_fraction": 0.5, "length_grouped_batches": grouped})
        return batches, run_sft(config, callbacks=[RecordRowLengths()])

    plain, plain_result = batch_lengths(False, tmp_path / "plain")
    grouped, grouped_result = batch_lengths(True, tmp_path / "grouped")
    assert len(grouped) == len(plain) == 2
    assert sorted(sum(grouped, [])) == sorted(sum(plain, []))   # every row once, each with its own length
    short, long = sorted(grouped, key=max)
    assert max(short) <= min(long)

    def padding(batches):
        return sum(len(batch) * max(batch) - sum(batch) for batch in batches)

    assert padding(grouped) < padding(plain)
    assert grouped_result["tokens_seen"] == plain_result["tokens_seen"]
    assert grouped_result["length_grouped_batches"] and not plain_result["length_grouped_batches"]


def test_float32_weights_with_bf16_train_float32_weights_under_bf16_autocast(tiny_sft, tmp_path):
    """``bf16`` with ``float32_weights``: every weight stays float32 while the forward's matrix
    products come out in bf16; without ``float32_weights`` the weights themselves are bf16."""
    seen: dict[str, set] = {"weights": set(), "products": set()}

    class RecordDtypes(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen["weights"] |= {p.dtype for p in model.parameters()}
            linear = next(m for m in model.model.language_model.modules() if isinstance(m, torch.nn.Linear))
            linear.register_forward_hook(lambda module, inputs, output: seen["products"].add(output.dtype))

    result = run_sft(sft_config(tiny_sft, tmp_path / "mixed", max_steps=2, save_steps=100, bf16=True,
                                float32_weights=True), callbacks=[RecordDtypes()])
    assert result["global_step"] == 2
    assert seen == {"weights": {torch.float32}, "products": {torch.bfloat16}}
    seen.update(weights=set(), products=set())
    run_sft(sft_config(tiny_sft, tmp_path / "bf16", max_steps=2, save_steps=100, bf16=True), callbacks=[RecordDtypes()])
    assert seen == {"weights": {torch.bfloat16}, "products": {torch.bfloat16}}


def test_the_loss_from_logits_trains_as_the_fused_lm_head_does(tiny_sft, tmp_path):
    """The same six steps with TRL's fused LM head and with the loss from the full logits: the
    same loss at every step (to rounding), and the same metrics logged."""
    logged: dict[str, list[dict]] = {}

    def run(lm_head_loss: str) -> dict:
        history = logged.setdefault(lm_head_loss, [])

        class RecordLogs(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    history.append(dict(logs))

        config = sft_config(tiny_sft, tmp_path / lm_head_loss, max_steps=6, save_steps=100).model_copy(
            update={"lm_head_loss": lm_head_loss})
        return run_sft(config, callbacks=[RecordLogs()])

    fused, logits = run("fused"), run("logits")
    assert fused["lm_head_loss"] == "fused" and logits["lm_head_loss"] == "logits"
    assert [step for step, _ in logits["losses"]] == [step for step, _ in fused["losses"]] == list(range(1, 7))
    for (_, a), (_, b) in zip(fused["losses"], logits["losses"]):
        assert b == pytest.approx(a, rel=1e-4)
    for name in ("entropy", "mean_token_accuracy", "num_tokens"):
        assert [log[name] for log in logged["logits"]] == pytest.approx([log[name] for log in logged["fused"]], rel=1e-3)
    assert logits["tokens_seen"] == fused["tokens_seen"]


def test_a_frozen_towers_cached_outputs_train_the_same_weights_to_the_bit(tiny_sft, tmp_path):
    """Two epochs with the tower frozen, with and without its per-clip outputs kept: the second
    epoch reads every clip from the cache, and the final weights are the same, bit for bit."""
    from safetensors.torch import load_file

    weights, results = {}, {}
    for cache_mb in (0, 64):
        folder = tmp_path / f"cache_{cache_mb}"
        results[cache_mb] = run_sft(sft_config(tiny_sft, folder, num_train_epochs=2, per_device_train_batch_size=2,
                                               save_steps=100, freeze_vision_tower=True,
                                               frozen_vision_cache_mb=cache_mb))
        weights[cache_mb] = load_file(folder / "final" / "model.safetensors")
    assert not any(name.startswith("vision_cache") for name in results[0])
    clips = len(tiny_sft.rows)        # 8 rows, each a clip of its own under its own transform
    assert results[64]["vision_cache_misses"] == clips and results[64]["vision_cache_hits"] == clips
    assert results[64]["global_step"] == results[0]["global_step"] == 8
    assert weights[0].keys() == weights[64].keys()
    assert all(torch.equal(weights[0][name], weights[64][name]) for name in weights[0])


@pytest.mark.slow
def test_a_killed_run_with_the_vision_cache_resumes_and_rebuilds_it(tiny_sft, tmp_path, kill_after_checkpoint):
    """The kept outputs live in the process: killed at an epoch's end, the rerun resumes from the
    checkpoint with an empty cache, computes each clip once again and reads it from the cache after."""
    config = write_config(sft_config(tiny_sft, tmp_path, num_train_epochs=3, per_device_train_batch_size=2,
                                     save_steps=4, freeze_vision_tower=True, frozen_vision_cache_mb=64),
                          tmp_path / "sft.yaml")
    command = [sys.executable, "-m", "viss_r1.train.sft", "--config", str(config)]
    killed_at = kill_after_checkpoint(command, tmp_path, step=4, timeout=240)   # 4 steps of 2 rows: one epoch
    assert killed_at in (4, 8)
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["resumed_from"].endswith(f"checkpoint-{killed_at}") and result["global_step"] == 12
    clips, rows_left = len(tiny_sft.rows), 2 * (12 - killed_at)
    assert (result["vision_cache_misses"], result["vision_cache_hits"]) == (clips, rows_left - clips)
