"""Stage processes side by side share the cores evenly, and a stage that dies (SIGKILL included)
stops counting at once (viss_r1/cpu_share.py)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from viss_r1 import cpu_share
from viss_r1.cpu_share import CPU_SHARE_ENV, CpuShare, cpu_share_from_env, live_holders

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0
# A stage beside this test: joins the folder's share, says so, and lives until killed.
NEIGHBOUR = ("import sys, time; from pathlib import Path; from viss_r1.cpu_share import CpuShare; "
             "share = CpuShare(Path(sys.argv[1]), 4).__enter__(); Path(sys.argv[2]).write_text('in'); time.sleep(600)")


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def neighbour(folder: Path, tmp_path: Path, name: str) -> subprocess.Popen:
    ready = tmp_path / f"{name}.ready"
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(folder), str(ready)], cwd=REPO)
    deadline = time.monotonic() + TIMEOUT_S
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the neighbour never joined"
        time.sleep(0.05)
    return process


def test_the_share_follows_the_live_stages_and_a_killed_one_stops_counting(tmp_path, threads):
    folder = tmp_path / "cpu"
    with CpuShare(folder, 4) as share:
        assert live_holders(folder) == 1 and share.rebalance() == 4 and torch.get_num_threads() == 4
        first, second = neighbour(folder, tmp_path, "first"), neighbour(folder, tmp_path, "second")
        try:
            assert live_holders(folder) == 3 and share.rebalance() == 1 and torch.get_num_threads() == 1
            second.send_signal(signal.SIGKILL)
            second.wait()
            # Its lock file is still there (it could not remove it); its lock is not.
            assert len(list(folder.glob("*.lock"))) == 3
            assert share.rebalance() == 2 and torch.get_num_threads() == 2
            first.terminate()
            first.wait()
            assert share.rebalance() == 4 and torch.get_num_threads() == 4
        finally:
            for process in (first, second):
                process.kill()
    assert not (folder / f"{os.getpid()}.lock").exists()   # a stage that ends takes its file with it


def test_a_dead_stages_file_with_this_pid_is_taken_over(tmp_path, threads):
    """A file left by a killed process whose pid came back: free, so joining does not wait."""
    folder = tmp_path / "cpu"
    folder.mkdir()
    (folder / f"{os.getpid()}.lock").write_text("")
    with CpuShare(folder, 2) as share:
        assert share.rebalance() == 2


def test_a_stage_joins_only_when_the_launcher_asks(tmp_path, monkeypatch, threads):
    monkeypatch.delenv(CPU_SHARE_ENV, raising=False)
    with cpu_share_from_env() as share:
        assert share is None
        cpu_share.rebalance()   # outside a share: changes nothing
    monkeypatch.setenv(CPU_SHARE_ENV, str(tmp_path / "cpu"))
    torch.set_num_threads(2)
    with cpu_share_from_env() as share:
        assert share is not None and share.threads == 2
        assert [p.name for p in (tmp_path / "cpu").iterdir()] == [f"{os.getpid()}.lock"]
        (tmp_path / "cpu" / "1.lock").write_text("")   # a dead stage's file: not counted
        cpu_share.rebalance()
        assert torch.get_num_threads() == 2
    assert [p.name for p in (tmp_path / "cpu").iterdir()] == ["1.lock"]
