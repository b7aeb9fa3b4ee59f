"""One progress line per stage: how far (done/total), how fast, how long still, and the stage's key
metric (loss for SFT, reward for GRPO, accuracy for evaluation)::

    step 40/200 (20%) · 1.52 steps/s · 1m45s left · reward 0.412

A stage says where it is as often as it likes (``update``); a line is written only at the first
update, each time another tenth of the work is done, after a minute without one, and at the end —
never two within a few seconds but the last — so a long run prints a dozen lines, not one a step. The per-step figures go to MLflow (and, at
DEBUG, to the Dagster event log); this line is what a person watching the console reads.

The bottom of the library with ``viss_r1.process``: it imports no other ``viss_r1`` module."""

from __future__ import annotations

import math
import time
from typing import Callable

EVERY_FRACTION = 0.1      # a line each time another tenth of the work is done...
MAX_SILENCE_S = 60.0      # ...or after this long without one, whichever comes first,
MIN_INTERVAL_S = 5.0      # but not sooner than this after the last one (the end excepted)


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def rate_text(rate: float, unit: str) -> str:
    """``1.52 steps/s``, or ``4.1 s/step`` when slower than one a second (as tqdm writes it)."""
    if rate <= 0:
        return f"– {unit}s/s"
    return f"{rate:.2f} {unit}s/s" if rate >= 1 else f"{1 / rate:.1f} s/{unit}"


def progress_line(done: int, total: int, unit: str, elapsed: float, counted: int,
                  metric: tuple[str, float] | None = None) -> str:
    """The line for ``done`` of ``total`` after ``elapsed`` seconds, in which ``counted`` of them
    were done (a resumed run's earlier steps did not take this run's time: they give no rate)."""
    rate = counted / elapsed if elapsed > 0 else 0.0
    if done >= total:
        when = f"done in {duration(elapsed)}"
    elif rate > 0:
        when = f"{duration((total - done) / rate)} left"
    else:
        when = "time left unknown"
    percent = 100 * done / total if total else 100.0
    parts = [f"{unit} {done}/{total} ({percent:.0f}%)", rate_text(rate, unit), when]
    if metric is not None:
        name, value = metric
        parts.append(f"{name} {value:.4g}")
    return " · ".join(parts)


class Progress:
    """Writes ``progress_line`` through ``log`` at the cadence above. ``start`` is where a resumed
    run begins (its rate counts only what this run did)."""

    def __init__(self, total: int, unit: str, log: Callable[[str], None], start: int = 0,
                 every: float = EVERY_FRACTION, max_silence_s: float = MAX_SILENCE_S,
                 min_interval_s: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.total, self.unit, self.log, self.start = total, unit, log, start
        self.every, self.max_silence_s, self.min_interval_s, self.clock = every, max_silence_s, min_interval_s, clock
        self.began = clock()
        self.done = start
        self.metric: tuple[str, float] | None = None
        self._shown_at: float | None = None   # clock time of the last line written
        self._shown_done = -1                 # done at the last line written
        self._next_mark = 0

    def update(self, done: int, metric: tuple[str, float] | None = None) -> None:
        """``done`` of the total so far and the key metric now (kept until the next one)."""
        self.done = done
        self.metric = metric if metric is not None else self.metric
        now = self.clock()
        if self._shown_at is None or done >= self.total:
            due = True
        else:
            since = now - self._shown_at
            due = since >= self.min_interval_s and (done >= self._next_mark or since >= self.max_silence_s)
        if due and done != self._shown_done:
            self._show(now)

    def finish(self) -> None:
        """The last line, unless the last update already wrote it (a run that stopped early says
        where it stopped)."""
        if self.done != self._shown_done:
            self._show(self.clock())

    def _show(self, now: float) -> None:
        self.log(progress_line(self.done, self.total, self.unit, now - self.began, self.done - self.start,
                               self.metric))
        self._shown_at, self._shown_done = now, self.done
        step = max(1, math.ceil(self.every * self.total))
        self._next_mark = (self.done // step + 1) * step
