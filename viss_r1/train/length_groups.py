"""SFT batches of rows of similar length: less padding, every row once an epoch.

A padded batch costs its size times its longest row. The embedded SSL-CoT SFT mixes long rows
(a chain of thought about a transformed clip) with short ones (rehearsed rows in the warm-up's
format), and over a quarter of its batch tokens are padding. ``LengthGroupedBatches`` orders an
epoch so that each run of ``batch_size`` indices (one batch of the trainer's dataloader) holds
rows of similar length:

1. a random permutation of the rows, drawn from ``seed`` and the epoch, so a resumed run skips to
   the very batches it had left (the Trainer calls ``set_epoch`` before each epoch);
2. cut into windows of ``window_batches`` batches, each window sorted by length and cut into
   batches, so which rows share a batch still changes from epoch to epoch;
3. the full batches shuffled across the whole epoch, so long and short batches alternate at
   random (transformers' ``LengthGroupedSampler`` keeps each window longest first: an epoch in
   sweeps from long rows to short ones); a last, partial batch stays last, so the batches before
   it stay whole.

``row_lengths`` measures each row as the trainer will see it: its unpadded tokens, text and vision,
in the collator's own batches.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch.utils.data import Sampler

# Rows sorted together: transformers' LengthGroupedSampler sorts windows of 50 batches too.
WINDOW_BATCHES = 50


def row_lengths(collate: Callable[[Sequence[Mapping[str, Any]]], Mapping[str, torch.Tensor]],
                rows: Sequence[Mapping[str, Any]], batch_size: int = 64) -> list[int]:
    """Tokens of each row (text and vision, no padding: its attention mask) in the batches ``collate``
    makes; collated ``batch_size`` at a time, a quarter cheaper a row than one by one."""
    lengths: list[int] = []
    for start in range(0, len(rows), batch_size):
        lengths.extend(collate(rows[start:start + batch_size])["attention_mask"].sum(dim=1).tolist())
    return lengths


def length_grouped_order(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                         window_batches: int = WINDOW_BATCHES) -> list[int]:
    """Every index of ``lengths`` once, each run of ``batch_size`` of them a batch of similar
    lengths (steps 1-3 of the module's docstring)."""
    if batch_size < 1 or window_batches < 1:
        raise ValueError(f"batch_size {batch_size} and window_batches {window_batches}: both must be at least 1")
    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = batch_size * window_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        # A stable sort on a random order: rows of equal length keep a random order among themselves.
        rows = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches.extend(rows[i:i + batch_size] for i in range(0, len(rows), batch_size))
    partial = batches.pop() if batches and len(batches[-1]) < batch_size else None
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    if partial is not None:
        shuffled.append(partial)
    return [index for batch in shuffled for index in batch]


class LengthGroupedBatches(Sampler[int]):
    """A training sampler of length-grouped batches; the dataloader must batch by ``batch_size``."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int,
                 window_batches: int = WINDOW_BATCHES):
        self.lengths, self.batch_size, self.seed = list(lengths), batch_size, seed
        self.window_batches = window_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(length_grouped_order(self.lengths, self.batch_size, generator, self.window_batches))


class LengthGroupedSampling:
    """Mixin before a transformers ``Trainer`` in the bases: with ``set_row_lengths`` called, the
    training sampler is ``LengthGroupedBatches`` over those lengths; without, the Trainer's own."""

    row_lengths: list[int] | None = None

    def set_row_lengths(self, lengths: Sequence[int] | None) -> None:
        if lengths is not None and len(lengths) != len(self.train_dataset):
            raise ValueError(f"{len(lengths)} row lengths for {len(self.train_dataset)} training rows")
        self.row_lengths = None if lengths is None else list(lengths)

    def _get_train_sampler(self, train_dataset=None):
        if self.row_lengths is None:
            return super()._get_train_sampler(train_dataset)
        # The batch size the Trainer's dataloader batches by (auto_find_batch_size may lower it).
        batch_size = getattr(self, "_train_batch_size", None) or self.args.train_batch_size
        return LengthGroupedBatches(self.row_lengths, batch_size, self.args.seed)


@functools.cache
def with_length_grouping(trainer_class: type) -> type:
    """``trainer_class`` with ``LengthGroupedSampling`` mixed in (the SFT's TRL ``SFTTrainer``), so the
    trainer module keeps importing TRL lazily."""
    return type(trainer_class.__name__, (LengthGroupedSampling, trainer_class), {"__module__": __name__})
