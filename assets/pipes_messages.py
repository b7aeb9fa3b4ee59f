"""The message file of a local stage process, read one whole line at a time.

Dagster's ``PipesFileMessageReader`` tails the file with ``readline()``, which at the end of the
file hands back a line the stage is still writing. Its ``json.loads`` then fails, the reader
thread dies, and every later message of the stage — progress, metrics, the materialization —
is lost while the step runs on (seen on two busy cores: "Unterminated string starting at: line 1
column 75"). This reader keeps a partial line until its newline arrives."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import dagster as dg

# Private names this module builds on (assets/launcher.py checks the pinned Dagster version).
PRIVATE_API = ("dagster.PipesFileMessageReader._reader_thread", "dagster.PipesFileMessageReader._path",
               "dagster.PipesTempFileMessageReader._include_stdio_in_messages")
POLL_S = 0.01   # as Dagster's own reader


def whole_lines(path: str, should_stop: Callable[[], bool]) -> Iterator[str]:
    """Each complete line appended to ``path`` until ``should_stop()`` holds once the file has no
    more; a last line without its newline is handed back then (the writer has finished)."""
    pending = ""
    with open(path, encoding="utf-8") as stream:
        while True:
            pending += stream.readline()
            if pending.endswith("\n"):
                yield pending
                pending = ""
            elif should_stop():
                if pending.strip():
                    yield pending
                return
            else:
                time.sleep(POLL_S)


class _WholeLineFileReader(dg.PipesFileMessageReader):
    def _reader_thread(self, handler, is_resource_complete) -> None:
        try:
            for line in whole_lines(self._path, is_resource_complete.is_set):
                handler.handle_message(json.loads(line))
        except Exception:
            handler.report_pipes_framework_exception(f"{type(self).__name__} reader thread", sys.exc_info())
            raise


class WholeLineMessageReader(dg.PipesTempFileMessageReader):
    """``PipesTempFileMessageReader`` whose thread parses only whole lines."""

    @contextmanager
    def read_messages(self, handler) -> Iterator[dict]:
        with tempfile.TemporaryDirectory() as folder:
            reader = _WholeLineFileReader(os.path.join(folder, "messages"),
                                          include_stdio_in_messages=self._include_stdio_in_messages)
            with reader.read_messages(handler) as params:
                yield params
