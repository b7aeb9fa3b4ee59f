"""A stage's Pipes message caught half written: the local launcher's reader waits for the rest of
the line, where Dagster's own reader parses the half, dies, and loses every later message."""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest

from assets.launcher import StageLauncher
from assets.pipes_messages import WholeLineMessageReader, whole_lines

FIRST = {"__dagster_pipes_version": "0.1", "method": "log", "params": {"message": "step 1/30 · loss 2.5", "level": "INFO"}}
SECOND = {"__dagster_pipes_version": "0.1", "method": "log", "params": {"message": "done", "level": "INFO"}}


class Handler:
    def __init__(self):
        self.messages, self.failures = [], []

    def handle_message(self, message):
        self.messages.append(message)

    def report_pipes_framework_exception(self, origin, exc_info):
        self.failures.append(f"{origin}: {exc_info[1]}")


def read_while_a_line_is_written_in_two_parts(reader) -> Handler:
    """The stage's writes as a busy machine can interleave them with the reader: half a line,
    a pause longer than the reader's poll, the rest, then another whole line."""
    handler = Handler()
    line = json.dumps(FIRST) + "\n"
    with reader.read_messages(handler) as params:
        with open(params["path"], "a", encoding="utf-8") as stream:
            stream.write(line[:40])
            stream.flush()
            time.sleep(0.3)
            stream.write(line[40:] + json.dumps(SECOND) + "\n")
    return handler


def test_a_half_written_message_is_read_once_its_line_is_complete():
    handler = read_while_a_line_is_written_in_two_parts(WholeLineMessageReader())
    assert handler.failures == [] and handler.messages == [FIRST, SECOND]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dagsters_own_reader_loses_the_message_and_every_later_one():
    handler = read_while_a_line_is_written_in_two_parts(dg.PipesTempFileMessageReader())
    assert handler.messages == [] and "Unterminated string" in handler.failures[0]


def test_a_last_line_without_its_newline_is_read_when_the_writer_has_finished(tmp_path):
    file = tmp_path / "messages"
    file.write_text('{"a": 1}\n{"b": 2}')
    assert list(whole_lines(str(file), lambda: True)) == ['{"a": 1}\n', '{"b": 2}']


class LaunchRecorded(Exception):
    pass


def local_launch(monkeypatch) -> dict:
    """What the local StageLauncher hands dg.PipesSubprocessClient to start a stage with."""
    clients = []

    class Client:
        def __init__(self, **kwargs):
            clients.append(kwargs)

        def run(self, **kwargs):
            raise LaunchRecorded

    monkeypatch.setattr(dg, "PipesSubprocessClient", Client)
    with pytest.raises(LaunchRecorded):
        StageLauncher().run(dg.build_asset_context(), "viss_r1.train.sft", "config.yaml")
    return clients[0]


def test_the_local_launcher_reads_stage_messages_whole(monkeypatch):
    assert isinstance(local_launch(monkeypatch)["message_reader"], WholeLineMessageReader)
