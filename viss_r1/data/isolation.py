"""Run one function over many tasks in long-lived worker processes, each task isolated: a task
that kills its worker (a decoder's segfault or abort on a corrupt file) or outlives its timeout
(a decoder stuck in a loop) costs that task alone. The worker is killed and replaced; the other
tasks go on (DESIGN.md "Durability contract": one bad file costs one quarantine row).

Why not ``ProcessPoolExecutor``: one dead worker breaks the whole pool (``BrokenProcessPool`` for
every pending task) and it has no per-task timeout, so a hung decoder blocks the run forever.
Why not a fresh process per task: spawning an interpreter and importing decord costs ~0.5-1 s,
more than decoding a clip. Workers are ``spawn``ed: decord is not fork-safe.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, Iterator, Sequence

STARTUP_TIMEOUT_S = 120.0   # a worker that cannot even import its modules is an environment error
_READY = "ready"


@dataclass(frozen=True)
class Outcome:
    """What one task gave: its return value, or why it has none."""

    value: Any = None
    error: str = ""     # the task raised: "ValueError: message"
    failure: str = ""   # its process was lost: "crashed (signal SIGSEGV)", "timed out after 2 s"


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip()[:300]}"


def run_isolated(fn: Callable, tasks: Sequence[tuple], workers: int, timeout_s: float,
                 preload: Sequence[str] = (), window: int = 0) -> Iterator[Outcome]:
    """``fn(*task)`` for every task, one outcome per task, in task order.

    ``fn`` must be importable by name (a top-level function, or a ``functools.partial`` of one):
    it is sent to each worker once, at start. ``preload``: modules a worker imports before it
    takes work, so a task's timeout measures the task, not the worker's start-up. ``window``: how
    far dispatch may run ahead of the oldest unfinished task (0: no limit); it bounds how many
    finished results wait in memory for a slow one to come first."""
    tasks = list(tasks)
    if not tasks:
        return
    context = multiprocessing.get_context("spawn")
    window = window or len(tasks)
    pool = [_Worker(context, fn, preload) for _ in range(max(1, min(workers, len(tasks))))]
    finished: dict[int, Outcome] = {}
    next_task = next_out = 0
    try:
        while next_out < len(tasks):
            for worker in pool:
                if worker.idle and next_task < min(len(tasks), next_out + window):
                    if worker.start_task(next_task, tasks[next_task], timeout_s):
                        next_task += 1
            if next_out in finished:
                while next_out in finished:
                    yield finished.pop(next_out)
                    next_out += 1
                continue  # the window moved on: hand out more work before waiting
            _wait_for_any(pool)
            for index, worker in enumerate(pool):
                result = worker.collect(timeout_s)
                if result is not None:
                    finished[result[0]] = result[1]
                if not worker.alive and next_task < len(tasks):
                    pool[index] = _Worker(context, fn, preload)
    finally:
        for worker in pool:
            worker.stop()


def crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"crashed (signal {signal.Signals(-exitcode).name})"
        except ValueError:
            return f"crashed (signal {-exitcode})"
    return f"crashed (exit code {exitcode})"


class _Worker:
    """One worker process and the task it is running, if any."""

    def __init__(self, context, fn: Callable, preload: Sequence[str]):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, fn, tuple(preload)), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.alive = True
        self.task: int | None = None
        self.deadline = time.monotonic() + STARTUP_TIMEOUT_S

    @property
    def idle(self) -> bool:
        return self.alive and self.ready and self.task is None

    def start_task(self, task: int, args: tuple, timeout_s: float) -> bool:
        """Hand ``task`` over; False when the worker turns out to have died while idle (the task
        is then not its to blame and goes to another worker)."""
        try:
            self.conn.send(args)
        except OSError:
            self.stop(kill=True)
            return False
        self.task, self.deadline = task, time.monotonic() + timeout_s
        return True

    def waitables(self) -> list:
        return [self.conn, self.process.sentinel] if self.alive else []

    def collect(self, timeout_s: float) -> tuple[int, Outcome] | None:
        """The (task, outcome) this worker has finished — by returning, dying or running out of
        time — or None. A worker that died or was killed is marked not alive."""
        if not self.alive:
            return None
        gone = False
        try:
            message = self.conn.recv() if self.conn.poll() else None
        except (EOFError, OSError):  # the pipe closed: the process is gone, its exit code says why
            message, gone = None, True
        if message == _READY:
            self.ready, self.deadline = True, float("inf")
            return None
        if isinstance(message, Outcome):
            task, self.task, self.deadline = self.task, None, float("inf")
            return task, message
        if gone or not self.process.is_alive():
            return self._lost(crash_reason(self._exitcode()))
        if time.monotonic() >= self.deadline:
            return self._lost(f"timed out after {timeout_s:g} s" if self.ready
                              else f"not ready after {STARTUP_TIMEOUT_S:g} s")
        return None

    def _lost(self, reason: str) -> tuple[int, Outcome] | None:
        task = self.task
        self.stop(kill=True)
        if task is not None:
            return task, Outcome(failure=reason)
        if not self.ready:
            raise RuntimeError(f"an isolated worker process failed to start: {reason}; "
                               "check that the task's function and its modules import in a fresh interpreter")
        return None  # it died between tasks (e.g. the OOM killer): replaced, no task to blame

    def _exitcode(self) -> int | None:
        self.process.join(timeout=5)
        return self.process.exitcode

    def stop(self, kill: bool = False) -> None:
        if not self.alive:
            return
        self.alive = False
        if not kill and self.task is None:
            try:
                self.conn.send(None)  # a clean goodbye: no work left
            except OSError:
                pass
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


def _wait_for_any(pool: list[_Worker]) -> None:
    """Sleep until a worker has news or the nearest deadline passes."""
    deadline = min((worker.deadline for worker in pool if worker.alive), default=float("inf"))
    timeout = None if deadline == float("inf") else max(0.0, deadline - time.monotonic())
    wait([w for worker in pool for w in worker.waitables()], timeout=timeout)


def _serve(conn, fn: Callable, preload: tuple[str, ...]) -> None:
    """A worker's loop: import, say ready, then run tasks until told to stop. A Python exception
    is the task's outcome; a crash or a hang is seen, and dealt with, by the parent."""
    for module in preload:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # a missing decoder is each task's error to report, not a reason to stop the worker
    conn.send(_READY)
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        if args is None:
            return
        try:
            outcome = Outcome(value=fn(*args))
        except Exception as error:  # any exception is this task's result, not the worker's end
            outcome = Outcome(error=describe_error(error))
        conn.send(outcome)
