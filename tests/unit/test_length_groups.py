"""Length-grouped SFT batches: every row once an epoch, batches of similar length in a shuffled
order, a new grouping each epoch, and a resumed run that trains the very batches it had left."""

from collections import Counter

import datasets
import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from viss_r1.train.length_groups import (LengthGroupedBatches, length_grouped_order, row_lengths,
                                         with_length_grouping)


def batches_of(order: list[int], size: int) -> list[list[int]]:
    return [order[i:i + size] for i in range(0, len(order), size)]


def padding(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(len(batch) * max(lengths[i] for i in batch) - sum(lengths[i] for i in batch) for batch in batches)


def two_lengths(rows: int = 400) -> list[int]:
    """Short and long rows in a fixed random mix, as rehearsed and SSL-CoT rows."""
    draw = torch.Generator().manual_seed(5)
    return [300 if torch.rand(1, generator=draw).item() < 0.5 else 100 for _ in range(rows)]


def test_every_row_comes_once_and_a_batch_holds_rows_of_one_length_but_at_a_window_edge():
    lengths = two_lengths()
    order = length_grouped_order(lengths, batch_size=8, generator=torch.Generator().manual_seed(0), window_batches=10)
    assert sorted(order) == list(range(len(lengths)))
    batches = batches_of(order, 8)
    mixed = [batch for batch in batches if len({lengths[i] for i in batch}) > 1]
    assert len(mixed) <= 5   # a window of 80 rows sorted by length has at most one mixed batch; 5 windows
    plain = batches_of(torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist(), 8)
    assert padding(batches, lengths) < 0.2 * padding(plain, lengths)


def test_long_and_short_batches_alternate_instead_of_sweeping_each_window_longest_first():
    lengths = two_lengths()
    order = length_grouped_order(lengths, batch_size=8, generator=torch.Generator().manual_seed(1), window_batches=50)
    longest = [max(lengths[i] for i in batch) for batch in batches_of(order, 8)]
    runs = 1 + sum(a != b for a, b in zip(longest, longest[1:]))
    # One window (400 rows = 50 batches) in length order would be two runs: short batches, then long.
    assert runs > 10, longest


def test_a_partial_last_batch_stays_last_so_the_batches_before_it_stay_whole():
    lengths = [1 + (i % 7) for i in range(43)]
    for seed in range(5):
        order = length_grouped_order(lengths, batch_size=8, generator=torch.Generator().manual_seed(seed),
                                     window_batches=2)
        assert sorted(order) == list(range(43))
        window_of = {index: position // 16 for position, index in
                     enumerate(torch.randperm(43, generator=torch.Generator().manual_seed(seed)).tolist())}
        for batch in batches_of(order, 8)[:-1]:
            assert len(batch) == 8 and len({window_of[i] for i in batch}) == 1   # one sorted window's run
        assert len(batches_of(order, 8)[-1]) == 3


def test_the_sampler_draws_a_new_grouping_each_epoch_and_the_same_one_again_for_the_same_epoch():
    sampler = LengthGroupedBatches(two_lengths(64), batch_size=4, seed=3)
    first = list(sampler)
    assert list(sampler) == first and len(sampler) == 64
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(second) == sorted(first)
    assert list(LengthGroupedBatches(two_lengths(64), batch_size=4, seed=4)) != first


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="batch_size 0"):
        length_grouped_order([1, 2], batch_size=0, generator=torch.Generator())


def test_row_lengths_count_the_unpadded_tokens_of_each_row_however_the_rows_are_batched():
    def collate(rows):
        width = max(len(row["tokens"]) for row in rows)
        return {"attention_mask": torch.tensor([[1] * len(r["tokens"]) + [0] * (width - len(r["tokens"])) for r in rows])}

    rows = [{"tokens": [5] * n} for n in (3, 9, 1, 4, 4)]
    assert row_lengths(collate, rows, batch_size=2) == row_lengths(collate, rows, batch_size=64) == [3, 9, 1, 4, 4]


class Scale(torch.nn.Module):
    """The smallest model a Trainer trains: one weight, a squared error."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, labels):
        return {"loss": ((self.weight * x - labels) ** 2).mean()}


class RecordingCollator:
    def __init__(self):
        self.batches: list[list[int]] = []

    def __call__(self, rows):
        self.batches.append([row["index"] for row in rows])
        x = torch.tensor([float(row["length"]) for row in rows]) / 300
        return {"x": x, "labels": 2 * x}


def grouped_trainer(folder, lengths, collator, callbacks=(), **arguments):
    dataset = datasets.Dataset.from_list([{"index": i, "length": n} for i, n in enumerate(lengths)])
    args = TrainingArguments(output_dir=str(folder), per_device_train_batch_size=4, num_train_epochs=2,
                             learning_rate=1e-2, use_cpu=True, report_to=[], disable_tqdm=True, seed=0,
                             remove_unused_columns=False, logging_strategy="no", **{"save_strategy": "no", **arguments})
    trainer = with_length_grouping(Trainer)(model=Scale(), args=args, train_dataset=dataset, data_collator=collator,
                                            callbacks=list(callbacks))
    trainer.set_row_lengths(lengths)
    return trainer


def test_a_trainer_trains_length_grouped_batches_and_regroups_them_each_epoch(tmp_path):
    lengths = two_lengths(48)
    collator = RecordingCollator()
    grouped_trainer(tmp_path, lengths, collator).train()
    assert len(collator.batches) == 24
    epochs = [collator.batches[:12], collator.batches[12:]]
    for epoch in epochs:
        assert Counter(i for batch in epoch for i in batch) == Counter(range(48))
        assert sum(len({lengths[i] for i in batch}) > 1 for batch in epoch) <= 1   # one window: one mixed batch
    assert epochs[0] != epochs[1]   # the Trainer's set_epoch reached the sampler


def test_the_lengths_must_match_the_rows(tmp_path):
    with pytest.raises(ValueError, match="3 row lengths for 48 training rows"):
        grouped_trainer(tmp_path, two_lengths(48), RecordingCollator()).set_row_lengths([1, 2, 3])


class StopAt(TrainerCallback):
    """A run killed right after its checkpoint at ``step`` (the process dies: nothing after it runs)."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_run_resumed_mid_epoch_trains_the_batches_the_killed_run_had_left(tmp_path):
    lengths = two_lengths(48)
    whole = RecordingCollator()
    grouped_trainer(tmp_path / "whole", lengths, whole).train()

    killed = RecordingCollator()
    with pytest.raises(KeyboardInterrupt):
        grouped_trainer(tmp_path / "run", lengths, killed, [StopAt(15)], save_strategy="steps", save_steps=5).train()
    # Killed in the second epoch after step 15's checkpoint (the dataloader had collated one batch ahead).
    assert killed.batches[:15] == whole.batches[:15]
    resumed = RecordingCollator()
    grouped_trainer(tmp_path / "run", lengths, resumed, save_strategy="steps", save_steps=5).train(
        resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-15"))
    assert resumed.batches[-9:] == whole.batches[15:]
