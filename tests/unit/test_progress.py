"""The progress line a stage writes to the console: steps, rate, time left, the key metric, and a
cadence of about ten lines a stage however long it runs."""

import pytest

from viss_r1.progress import MAX_SILENCE_S, Progress, duration, progress_line, rate_text


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (42.4, "42s"), (185, "3m05s"), (7620, "2h07m")])
def test_durations_read_like_a_clock(seconds, text):
    assert duration(seconds) == text


def test_the_rate_flips_to_seconds_per_unit_when_slower_than_one_a_second():
    assert rate_text(1.523, "step") == "1.52 steps/s"
    assert rate_text(0.25, "step") == "4.0 s/step"
    assert rate_text(0.0, "sample") == "– samples/s"


def test_a_line_says_steps_rate_time_left_and_the_metric():
    # 40 of 200 steps in 20 s: 2 steps/s, 160 steps left → 80 s
    line = progress_line(40, 200, "step", elapsed=20.0, counted=40, metric=("reward", 0.41234))
    assert line == "step 40/200 (20%) · 2.00 steps/s · 1m20s left · reward 0.4123"


def test_a_resumed_run_is_timed_on_what_it_did_itself():
    # resumed at step 100: 10 steps in 20 s is 0.5 step/s, so the 90 left take 180 s
    line = progress_line(110, 200, "step", elapsed=20.0, counted=10, metric=("loss", 1.5))
    assert line == "step 110/200 (55%) · 2.0 s/step · 3m00s left · loss 1.5"


def test_the_last_line_says_how_long_it_took():
    assert progress_line(6, 6, "sample", elapsed=3.0, counted=6) == "sample 6/6 (100%) · 2.00 samples/s · done in 3s"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(total: int, seconds_per_step: float, start: int = 0) -> list[str]:
    clock, lines = Clock(), []
    progress = Progress(total, "step", lines.append, start=start, clock=clock)
    for step in range(start + 1, total + 1):
        clock.now += seconds_per_step
        progress.update(step, ("loss", 1.0 / step))
    progress.finish()
    return lines


def test_a_run_writes_a_line_a_tenth_the_first_and_the_last_among_them():
    lines = run(total=1000, seconds_per_step=0.06)
    assert len(lines) == 11   # step 1, then every 100th step
    assert lines[0].startswith("step 1/1000 (0%)") and lines[1].startswith("step 100/1000 (10%)")
    assert lines[-1].startswith("step 1000/1000 (100%)") and "done in 1m00s" in lines[-1]
    assert lines[-1].endswith("loss 0.001")


def test_a_burst_of_quick_steps_writes_only_its_first_and_last_line():
    lines = run(total=11, seconds_per_step=0.1)
    assert [line.split(" (")[0] for line in lines] == ["step 1/11", "step 11/11"]


def test_a_slow_run_still_writes_a_line_a_minute():
    lines = run(total=1000, seconds_per_step=MAX_SILENCE_S / 4)   # 10% of it takes 25 minutes
    assert lines[1].startswith("step 5/1000") and lines[2].startswith("step 9/1000")
    assert "s/step" in lines[1] and "left" in lines[1]


def test_a_short_run_writes_each_step_once():
    lines = run(total=2, seconds_per_step=1.0)
    assert [line.split(" (")[0] for line in lines] == ["step 1/2", "step 2/2"]


def test_finish_writes_where_a_run_stopped_early_and_keeps_the_last_metric():
    clock, lines = Clock(), []
    progress = Progress(100, "step", lines.append, clock=clock)
    for step in range(1, 16):
        clock.now += 1.0
        progress.update(step, ("loss", 2.0) if step == 1 else None)
    progress.finish()
    assert lines[-1].startswith("step 15/100 (15%)") and lines[-1].endswith("loss 2")
