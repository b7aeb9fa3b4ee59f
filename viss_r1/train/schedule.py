"""The learning-rate schedule's horizon, apart from where training stops.

transformers builds the schedule over the steps it will run (``create_scheduler(max_steps)``), so
a cosine reaches 0 at the stop. The release schedules its cosine over one epoch of the data
(``num_train_epochs 1``) and stopped its RL run near step 2,000 of ≈14,500: the rate there is
still ≈1e-6 (METHOD.md §6). ``ScheduleHorizon`` is a mixin for a transformers ``Trainer`` (SFT and
GRPO) that builds the scheduler over ``horizon_steps`` or ``horizon_epochs`` instead; with
neither it is the Trainer's own schedule.
"""

from __future__ import annotations

import functools
import math


class ScheduleHorizon:
    """Mixin before a ``transformers.Trainer`` in the bases. ``horizon_steps``/``horizon_epochs``
    (set by ``set_schedule_horizon``) give the length the scheduler is built for; an epoch counts
    optimizer steps as the Trainer does (``set_initial_training_values``), so one epoch is what
    ``num_train_epochs 1`` would run. Warmup given as a fraction is a fraction of the horizon, as
    the release's warmup would be of its epoch."""

    horizon_steps: int | None = None
    horizon_epochs: float | None = None
    _steps_per_epoch: int | None = None

    def set_schedule_horizon(self, steps: int | None = None, epochs: float | None = None) -> None:
        if steps is not None and epochs is not None:
            raise ValueError(f"a schedule horizon of {steps} steps and of {epochs} epochs: give one")
        self.horizon_steps, self.horizon_epochs = steps, epochs

    def set_initial_training_values(self, args, dataloader):
        values = super().set_initial_training_values(args, dataloader)
        self._steps_per_epoch = values[1]   # num_update_steps_per_epoch
        return values

    def schedule_length(self, num_training_steps: int) -> int:
        """The steps the schedule spans: the horizon, or ``num_training_steps`` (where training stops)."""
        if self.horizon_steps is not None:
            return self.horizon_steps
        if self.horizon_epochs is not None:
            if self._steps_per_epoch is None:
                raise RuntimeError("schedule_horizon_epochs needs the trainer's steps per epoch, known only "
                                   "once train() has measured its dataloader")
            return math.ceil(self.horizon_epochs * self._steps_per_epoch)
        return num_training_steps

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        length = self.schedule_length(num_training_steps)
        if length < num_training_steps:
            # transformers' cosine rises again past its end: a horizon must reach the stop.
            raise ValueError(f"the LR schedule's horizon ({length} steps) ends before training stops "
                             f"({num_training_steps} steps): lengthen schedule_horizon_steps/_epochs or "
                             "lower max_steps")
        return super().create_scheduler(length, optimizer)


@functools.cache
def with_schedule_horizon(trainer_class: type) -> type:
    """``trainer_class`` with ``ScheduleHorizon`` mixed in (SFT: TRL's ``SFTTrainer``; GRPO:
    ``VideoGRPOTrainer``), so the trainer modules keep importing TRL lazily."""
    return type(trainer_class.__name__, (ScheduleHorizon, trainer_class), {"__module__": __name__})
