"""Run one call in a process of its own, for memory's sake: a long-lived process keeps what its
allocator once held (freed tensors stay in its heap), so a large build inside the Dagster process
would hold its peak for the rest of the run. A process that exits gives it all back.

A module of its own, apart from ``viss_r1.data.isolation`` (many tasks in long-lived workers): the
data plane's cache keys follow the modules it imports, and this one it does not need."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable


class ProcessLost(RuntimeError):
    """The process running a call died before it returned (killed, out of memory, crashed)."""


def run_in_own_process(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` in a fresh ``spawn``ed process, which exits when it returns: the memory the
    call used goes back to the system. Its exception is raised here with the child's traceback
    (``__cause__``); a child that dies first raises ``ProcessLost``. ``fn`` and ``args`` must
    pickle (a top-level function)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            raise ProcessLost(f"the process running {getattr(fn, '__qualname__', fn)} died before it "
                              "returned (killed, out of memory, or crashed)") from None


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the one that started it dies (the Dagster process
    killed with SIGKILL), rather than leaving an orphan to finish a build nobody will publish
    beside the rerun's own. The request ``viss_r1.process.die_with_launcher`` makes for a stage
    process, written again here: every stage's cache key covers that module, so sharing code
    through it would retrain every model."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1   # <linux/prctl.h>
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL) != 0:
        return   # not allowed here (a sandbox): the call runs on as before
    if os.getppid() != parent:   # it died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)
