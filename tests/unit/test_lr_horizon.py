"""The LR schedule spans its horizon, not the stop point: a cosine over 100 steps stopped at 10 has
the rate cos(10/100) gives there, not 0 (the release: one epoch, stopped near step 2,000)."""

import math

import pydantic
import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from viss_r1.train.config import GRPORunConfig, GRPOSettings, OptimSettings
from viss_r1.train.schedule import with_schedule_horizon

LR = 1e-3


def cosine(step: int, length: int, warmup: int = 0) -> float:
    """transformers' cosine with warmup at ``step`` of ``length`` (the release's lr_scheduler_type)."""
    if step < warmup:
        return LR * (step / warmup)
    return LR * (0.5 * (1.0 + math.cos(math.pi * ((step - warmup) / (length - warmup)))))


class Regression(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x, labels):
        return {"loss": ((self.linear(x).squeeze(-1) - labels) ** 2).mean()}


class RecordRate(TrainerCallback):
    def __init__(self):
        self.rates: list[float] = []   # the rate after each optimizer step: the next step's

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        self.rates.append(lr_scheduler.get_last_lr()[0])


def train(tmp_path, steps=None, epochs=None, samples=8, **arguments) -> list[float]:
    torch.manual_seed(0)
    data = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(samples)]
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=LR, lr_scheduler_type="cosine",
                             per_device_train_batch_size=2, save_strategy="no", logging_strategy="no",
                             report_to=[], disable_tqdm=True, use_cpu=True, **arguments)
    record = RecordRate()
    trainer = with_schedule_horizon(Trainer)(model=Regression(), args=args, train_dataset=data, callbacks=[record])
    trainer.set_schedule_horizon(steps, epochs)
    trainer.train()
    return record.rates


def test_the_rate_at_the_stop_is_the_horizons_cosine_value(tmp_path):
    rates = train(tmp_path, steps=100, max_steps=10)
    assert len(rates) == 10
    assert rates == [cosine(step, 100) for step in range(1, 11)]
    assert rates[-1] == LR * (0.5 * (1.0 + math.cos(math.pi * 0.1))) > 0.97 * LR


def test_without_a_horizon_the_cosine_reaches_zero_at_the_stop(tmp_path):
    rates = train(tmp_path, max_steps=10)
    assert rates == [cosine(step, 10) for step in range(1, 11)] and rates[-1] == 0.0


def test_a_horizon_in_epochs_counts_the_trainers_steps_per_epoch(tmp_path):
    # 8 samples, batch 2, accumulation 2: 2 optimizer steps an epoch; 5 epochs = 10 steps
    rates = train(tmp_path, epochs=5.0, max_steps=4, gradient_accumulation_steps=2)
    assert rates == [cosine(step, 10) for step in range(1, 5)]


def test_a_warmup_fraction_is_a_fraction_of_the_horizon(tmp_path):
    rates = train(tmp_path, steps=100, max_steps=12, warmup_steps=0.1)   # 10 warmup steps, not ceil(1.2)
    assert rates == [cosine(step, 100, warmup=10) for step in range(1, 13)]
    assert rates[4] == LR * 0.5


def test_a_horizon_must_reach_the_stop(tmp_path):
    with pytest.raises(ValueError, match=r"horizon \(5 steps\) ends before training stops \(10 steps\)"):
        train(tmp_path, steps=5, max_steps=10)


def test_the_horizon_is_given_one_way():
    with pytest.raises(pydantic.ValidationError, match="both set"):
        OptimSettings(schedule_horizon_steps=100, schedule_horizon_epochs=1.0)
    assert OptimSettings().schedule_horizon_steps is None and OptimSettings().schedule_horizon_epochs is None


def test_the_grpo_trainer_schedules_over_the_configured_horizon(tiny_sft, tmp_path):
    from viss_r1.train.grpo import build_trainer

    config = GRPORunConfig(stage="viss_r1_grpo", model=str(tiny_sft.model_dir), output_dir=str(tmp_path),
                           samples=str(tiny_sft.samples), frame_shards=[str(p) for p in tiny_sft.shard_files],
                           training=OptimSettings(bf16=False, activation_checkpointing=False, max_steps=10,
                                                  learning_rate=LR, schedule_horizon_steps=100),
                           grpo=GRPOSettings(num_generations=2, max_completion_length=8))
    trainer, _, _ = build_trainer(config)
    trainer.create_optimizer()
    scheduler = trainer.create_scheduler(num_training_steps=10)
    for _ in range(10):
        trainer.optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr()[0] == cosine(10, 100)
