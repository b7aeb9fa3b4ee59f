"""Pool slots held by runs that died, freed; a run waiting on the pool says who it waits for.

Training, evaluation and annotation steps share Dagster's concurrency pool ``gpu`` (limit 1:
DESIGN.md). Dagster frees a step's slot when the step ends. A run killed inside a step (SIGKILL, the
OOM killer, a reboot) never ends, so its slot stays claimed, and every later run waits on the pool
forever without printing a line: Dagster frees such slots only from its UI or from the daemon's run
monitoring, which a ``dagster job execute`` run does not have.

So each run holds a lock file for as long as its process lives (``<state>/locks/runs/<run id>.lock``;
the OS drops the lock when the process dies, however it dies), taken when the run starts, before
it claims any slot. Then, and every ``interval_s`` while it runs, it looks at the runs holding or
waiting for a pool slot. One whose lock file nobody holds any more is dead: its slots are freed and
it is marked failed, with a warning naming it. A run with no lock file in this state folder
(started from another folder or machine, or before this existed) is never judged; while this run
waits for a slot that such a run holds, the warning says how to free it by hand.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock, Timeout

RUN_LOCKS = Path("locks") / "runs"


def run_lock_path(state: Path, run_id: str) -> Path:
    return Path(state) / RUN_LOCKS / f"{run_id}.lock"


def is_dead(state: Path, run_id: str) -> bool | None:
    """True when ``run_id`` left a lock file here that no process holds; False while one holds it;
    None when it left none (not ours to judge)."""
    path = run_lock_path(state, run_id)
    if not path.exists():
        return None
    probe = FileLock(str(path), thread_local=False, preserve_lock_file=True)   # judging must not delete it
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return False
    probe.release()
    return True


def pool_users(storage: Any) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(run id → its ``pool/step`` holding a slot, run id → its ``pool/step`` waiting for one)."""
    holding: dict[str, list[str]] = {}
    waiting: dict[str, list[str]] = {}
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        for slot in info.claimed_slots:
            holding.setdefault(slot.run_id, []).append(f"{pool}/{slot.step_key}")
        for step in info.pending_steps:
            if step.assigned_timestamp is None:
                waiting.setdefault(step.run_id, []).append(f"{pool}/{step.step_key}")
    return holding, waiting


def free_dead_runs(instance: Any, own_run_id: str, state: Path, warn: Callable[[str], None],
                   holding: dict[str, list[str]], waiting: dict[str, list[str]]) -> list[str]:
    """Free the pool slots (held or waited for: ``pool_users``) of every run that died, mark it
    failed, drop its lock file; return their ids."""
    storage = instance.event_log_storage
    freed = []
    for run_id in sorted((set(holding) | set(waiting)) - {own_run_id}):
        if not is_dead(state, run_id):
            continue
        steps = ", ".join(holding.get(run_id) or waiting[run_id])
        storage.free_concurrency_slots_for_run(run_id)
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, f"its process died (killed or crashed) in {steps}; "
                                            f"run {own_run_id} freed its pool slots")
        run_lock_path(state, run_id).unlink(missing_ok=True)
        warn(f"run {run_id} died in {steps} without freeing its pool slot: freed it and marked the run failed "
             "(rerun the job to resume from its last checkpoint)")
        freed.append(run_id)
    return freed


class RunLiveness:
    """This run's lock file, and the sweep for dead runs: at start and every ``interval_s``."""

    def __init__(self, instance: Any, run_id: str, state: Path, warn: Callable[[str], None], interval_s: float = 15.0):
        self.instance, self.run_id, self.state, self.warn, self.interval_s = instance, run_id, Path(state), warn, interval_s
        self._lock = FileLock(str(run_lock_path(self.state, run_id)), thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told: set[tuple[str, str]] = set()   # (holder run, its step) already named in a warning

    def start(self) -> None:
        run_lock_path(self.state, self.run_id).parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire(timeout=0)   # a second process of one run would be a bug: fail loudly
        self.check()
        if self.interval_s > 0:
            self._thread = threading.Thread(target=self._watch, name="viss-r1-run-liveness", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._lock.release()
        run_lock_path(self.state, self.run_id).unlink(missing_ok=True)

    def check(self) -> None:
        """One read of the pool: free the slots of dead runs, then name the live holders this run waits for."""
        storage = self.instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            return
        holding, waiting = pool_users(storage)
        freed = free_dead_runs(self.instance, self.run_id, self.state, self.warn, holding, waiting)
        if self.run_id in waiting:
            self._say_who_holds_the_pool({run: steps for run, steps in holding.items() if run not in freed},
                                         waiting[self.run_id])

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception as error:  # a failed look must never end the run it watches
                self.warn(f"could not check the pool for dead runs ({type(error).__name__}: {error}); will retry")

    def _say_who_holds_the_pool(self, holding: dict[str, list[str]], waiting: list[str]) -> None:
        for holder, steps in sorted(holding.items()):
            for step in steps:
                if holder == self.run_id or (holder, step) in self._told:
                    continue
                self._told.add((holder, step))
                unjudged = is_dead(self.state, holder) is None
                self.warn(f"{', '.join(waiting)} waits for a pool slot held by run {holder} ({step}); "
                          "it starts when that step ends" +
                          ("; that run was not started from this state folder, so if it is dead, free its slot "
                           "in the Dagster UI (Deployment → Concurrency)" if unjudged else ""))
