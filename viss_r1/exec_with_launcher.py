"""``python -m viss_r1.exec_with_launcher COMMAND [ARG…]``: become COMMAND, dying with the launcher.

A multi-process stage is launched by accelerate's or torchrun's launcher, which is not our code.
Its ranks die with it (``viss_r1.process.die_with_launcher`` names their parent, the launcher
tool), but the tool itself outlives a Dagster process killed with SIGKILL, and keeps training
into the work folder the rerun will use. The local stage launcher (``assets/launcher.py``) starts
such a tool through this module: it asks the kernel for SIGTERM when Dagster dies, then execs the
tool in the same process. The request survives the exec, so the tool ends with Dagster and its
ranks end with the tool."""

from __future__ import annotations

import os
import sys

from viss_r1.process import die_with_launcher


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m viss_r1.exec_with_launcher COMMAND [ARG…]")
    die_with_launcher()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
