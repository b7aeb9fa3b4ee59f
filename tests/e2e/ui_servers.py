"""`dagster dev` and `mlflow ui` on loopback for browser tests, stopped for sure afterwards.

Two traps decide how they are started. Spawned from a script, `dagster dev` ignores SIGTERM and
SIGINT when it inherits them ignored (a backgrounded shell job does that) and then has to be
killed, leaving its code server's sockets behind; so each server starts with default signal
handlers in a session of its own. Stopping one sends SIGTERM to it (it stops its children
itself), then SIGTERM and SIGKILL to whatever of its session or descendants is left (webserver,
daemon, code server, uvicorn workers), and checks that none is left and its port is closed.
`mlflow server` leaves its job-runner workers behind unless `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
# Measured on a 2-core machine: dagster dev ≈7 s, mlflow ui 9–13 s; generous for a busy CI box.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_is_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def _default_signals() -> None:
    """Runs in the child before exec: undo ignored or blocked signals it would inherit."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _processes() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, session id) of every process, read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()   # the command name may hold spaces
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return table


def _family(leader: int) -> set[int]:
    """The leader's session plus every descendant (in case one started a session of its own)."""
    table = _processes()
    family = {pid for pid, (_, session) in table.items() if session == leader}
    family |= {leader} if leader in table else set()
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in family} - family
        family |= children
        grew = bool(children)
    return family


def _kill(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop(process: subprocess.Popen, name: str, port: int) -> None:
    """SIGTERM to the leader (it shuts its children down and removes its sockets), then SIGTERM
    and finally SIGKILL to whatever of its family is left; fails if anything survives."""
    family = _family(process.pid)
    for sig, grace in ((None, STOP_TIMEOUT_S), (signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        if sig is None:
            process.send_signal(signal.SIGTERM)
        else:
            _kill(family & set(_processes()), sig)
        deadline = time.monotonic() + grace
        while (process.poll() is None or family & set(_processes())) and time.monotonic() < deadline:
            family |= _family(process.pid)
            time.sleep(0.1)
        if process.poll() is not None and not family & set(_processes()):
            break
    left = family & set(_processes())
    deadline = time.monotonic() + 10
    while port_is_listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left or port_is_listening(port):
        raise AssertionError(f"{name}: still running after SIGKILL: pids {sorted(left)}, "
                             f"port {port} listening: {port_is_listening(port)}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def serving(name: str, command: list[str], env: dict, cwd: Path, port: int, ready_path: str,
            log: Path) -> Iterator[str]:
    """Start ``command`` in a session of its own, yield its base URL once ``ready_path`` answers
    200, and on exit stop it and every process it started; the output goes to ``log``."""
    assert not port_is_listening(port), f"{name}: port {port} is taken before start"
    base = f"http://{HOST}:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_default_signals)
    try:
        started, deadline = time.monotonic(), time.monotonic() + START_TIMEOUT_S
        while not _answers(base + ready_path):
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {process.returncode}" if process.poll() is not None else \
                    f"not answering {base + ready_path} after {START_TIMEOUT_S:.0f} s"
                raise RuntimeError(f"{name} {state}; last output ({log}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        print(f"{name} answers on {base} after {time.monotonic() - started:.1f} s (log: {log})")
        yield base
    finally:
        _stop(process, name, port)


def server_env(state: Path, dagster_home: Path, base: dict | None = None) -> dict:
    """The job's environment for the servers: its state folder and Dagster instance, local MLflow."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT")}
    env.update(DAGSTER_HOME=str(dagster_home), VISS_R1_STATE_DIR=str(state),
               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    return env


@contextlib.contextmanager
def dagster_dev(env: dict, log_dir: Path) -> Iterator[str]:
    """`dagster dev` on the repo's workspace.yaml, against ``env``'s DAGSTER_HOME."""
    port = free_port()
    command = [str(BIN / "dagster"), "dev", "--host", HOST, "--port", str(port),
               "-w", str(REPO / "workspace.yaml")]
    # /server_info answers before the code location has loaded; the GraphQL query below waits
    # until the workspace holds the repository.
    with serving("dagster dev", command, env, REPO, port, "/server_info", log_dir / "dagster_dev.log") as base:
        _wait_for_code_location(base)
        yield base


LOCATIONS_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _wait_for_code_location(base: str) -> None:
    query = json.dumps({"query": LOCATIONS_QUERY}).encode()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        request = urllib.request.Request(base + "/graphql", data=query,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
            assert not errors, f"code location failed to load: {errors}"
            return
        assert time.monotonic() < deadline, f"code location not loaded after {START_TIMEOUT_S:.0f} s: {entries}"
        time.sleep(0.5)


@contextlib.contextmanager
def mlflow_ui(env: dict, state: Path, log_dir: Path) -> Iterator[str]:
    """`mlflow ui` on the state's SQLite store, one worker, no job runner (it would outlive us)."""
    port = free_port()
    command = [str(BIN / "mlflow"), "ui", "--host", HOST, "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}"]
    # cwd: the server may create ./mlartifacts; keep that inside the state folder, not the repo.
    with serving("mlflow ui", command, env, state, port, "/health", log_dir / "mlflow_ui.log") as base:
        yield base
