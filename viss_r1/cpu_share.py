"""Stage processes that run side by side on one machine's CPU cores share the cores evenly.

Without a GPU a job runs up to two stages at once (``pipelines/executor.py``), and each stage's
torch would take every core for its threads: two of them oversubscribe the cores, and their
OpenMP threads wait for each other. So a CPU stage holds a lock file in a shared folder
(``<state>/locks/cpu/<pid>.lock``, named by the launcher in ``CPU_SHARE_ENV``) for as long as it
lives, and before every training step and evaluation batch sets its torch threads to its share:
the threads it started with, divided by the number of live stages (at least one). Alone again, it
takes them all back. The OS drops a lock when its process dies, however it dies, so a killed
stage stops counting at once. The thread count changes how fast a step runs, not its bits (README,
"Running the arms side by side").

This module imports torch only inside ``rebalance`` (``viss_r1.process`` imports it)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

# Set by the local stage launcher (assets/launcher.py) to the folder of the lock files.
CPU_SHARE_ENV = "VISS_R1_CPU_SHARE"

_active: "CpuShare | None" = None


def live_holders(folder: Path) -> int:
    """How many lock files in ``folder`` a live process holds (its own included)."""
    count = 0
    for path in folder.glob("*.lock"):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:   # its stage just ended
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            count += 1
        else:   # left by a process that died: not counted (and left for its pid's next owner)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return count


class CpuShare:
    """This process's place among the CPU stages of one machine (``folder``), and its thread share."""

    def __init__(self, folder: Path, threads: int):
        self.folder, self.threads = Path(folder), max(1, threads)
        self.path = self.folder / f"{os.getpid()}.lock"
        self._fd: int | None = None
        self.current: int | None = None

    def __enter__(self) -> "CpuShare":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)   # a dead process's file with our pid: free, so at once
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def share(self) -> int:
        return max(1, self.threads // max(1, live_holders(self.folder)))

    def rebalance(self) -> int:
        """Set torch's intra-op threads to this process's share now; return it."""
        import torch

        threads = self.share()
        if threads != self.current:
            torch.set_num_threads(threads)
            self.current = threads
        return threads


@contextlib.contextmanager
def cpu_share_from_env() -> Iterator[CpuShare | None]:
    """Join the machine's CPU stages when the launcher asked for it (``CPU_SHARE_ENV``) and this
    process computes on the CPU; ``rebalance()`` then keeps its thread share. Else nothing."""
    global _active
    folder = os.environ.get(CPU_SHARE_ENV)
    if not folder or _uses_gpu():
        yield None
        return
    import torch

    with CpuShare(Path(folder), torch.get_num_threads()) as share:
        _active = share
        try:
            share.rebalance()
            yield share
        finally:
            _active = None


def rebalance() -> None:
    """Called before each training step and evaluation batch: a no-op outside a CPU share."""
    if _active is not None:
        _active.rebalance()


def _uses_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
