"""Two runs on one cache key never destroy each other's work (DESIGN.md "Durability contract":
first complete writer wins). Each test races two real processes — this file run as a script —
and steps them through the race with signal files, so the interleaving is the same every time."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from assets.caching import build_or_reuse, output
from assets.resources import ArtifactStoreResource, MlflowTracking
from viss_r1.artifacts import MANIFEST, ArtifactStore

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120.0


def wait_for(path: Path, process: subprocess.Popen | None = None, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process is None or process.poll() is None, f"process {process.args} ended before {path.name}"
        assert time.monotonic() < deadline, f"{path.name} not there within {timeout:.0f} s"
        time.sleep(0.05)


# --- what the racing processes run -----------------------------------------------------------

def publish(name: str, root: str, signals: str) -> None:
    """Stage artifact stage/k1 holding ``name``; publish it once ``<name>.go`` appears."""
    logging.basicConfig(level=logging.INFO)   # the store says so when it keeps another's artifact
    with ArtifactStore(root).writer("stage", "k1", {"writer": name}) as folder:
        (folder / "data.txt").write_text(name)
        (Path(signals) / f"{name}.staged").touch()
        wait_for(Path(signals) / f"{name}.go")


@dg.asset
def raced_stage(context: dg.AssetExecutionContext, artifact_store: ArtifactStoreResource,
                mlflow_tracking: MlflowTracking) -> dg.Output:
    signals = Path(os.environ["RACE_SIGNALS"])

    def build(building) -> None:
        with (signals / "builds").open("a") as builds:
            builds.write(f"{os.getpid()}\n")
        (signals / "building").touch()
        wait_for(signals / "go")
        (building.folder / "built_by.txt").write_text(str(os.getpid()))

    built = build_or_reuse(context, artifact_store, mlflow_tracking, code_version="1", config={}, inputs={},
                           build=build)
    return output(built, {"built_by": (built.folder / "built_by.txt").read_text()})


def materialize_raced_stage() -> None:
    from pipelines.definitions import resources

    with dg.instance_for_test() as instance:
        result = dg.materialize([raced_stage], resources=resources(), instance=instance)
    (event,) = result.asset_materializations_for_node("raced_stage")
    print(json.dumps({k: v.value for k, v in event.metadata.items()}, default=str))


def start(function: str, *args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    python_path = os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])
    with log.open("w") as stderr:
        return subprocess.Popen([sys.executable, __file__, function, *args], stdout=subprocess.PIPE, stderr=stderr,
                                text=True, env={**os.environ, **(env or {}), "PYTHONPATH": python_path})


def finish(process: subprocess.Popen, log: Path) -> str:
    stdout, _ = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, log.read_text()[-3000:]
    return stdout


# --- the races -------------------------------------------------------------------------------

def test_the_second_writer_discards_its_copy_and_the_first_artifact_stays_in_place(tmp_path):
    root, signals = tmp_path / "store", tmp_path / "signals"
    signals.mkdir()
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    writers = {name: start("publish", name, str(root), str(signals), log=logs[name]) for name in logs}
    try:
        for name, process in writers.items():
            wait_for(signals / f"{name}.staged", process)           # both have built their copy
        (signals / "first.go").touch()
        finish(writers["first"], logs["first"])
        data = root / "stage" / "k1" / "data.txt"
        inode = data.stat().st_ino
        with data.open() as reader:                                 # a reader of the first artifact
            (signals / "second.go").touch()
            finish(writers["second"], logs["second"])
            assert reader.read() == "first"
        assert data.stat().st_ino == inode                          # never replaced under the reader
        assert json.loads((root / "stage" / "k1" / MANIFEST).read_text())["summary"] == {"writer": "first"}
        assert sorted(os.listdir(root / "stage")) == ["k1"]         # the second copy is gone, not left over
        assert "stage/k1: another writer published this artifact first" in logs["second"].read_text()
    finally:
        for process in writers.values():
            process.kill()


def test_a_second_run_waits_for_the_build_in_progress_then_reuses_it(isolated_state, tmp_path):
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {"RACE_SIGNALS": str(signals)}
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    first = start("materialize_raced_stage", log=logs["first"], env=env)
    second = None
    try:
        wait_for(signals / "building", first)
        second = start("materialize_raced_stage", log=logs["second"], env=env)
        deadline = time.monotonic() + TIMEOUT_S
        while "another run is building artifact" not in logs["second"].read_text():
            assert second.poll() is None, logs["second"].read_text()[-3000:]
            assert time.monotonic() < deadline, "the second run never said it waits for the first"
            time.sleep(0.1)
        (signals / "go").touch()
        built = json.loads(finish(first, logs["first"]).splitlines()[-1])
        reused = json.loads(finish(second, logs["second"]).splitlines()[-1])
    finally:
        for process in (first, second):
            if process is not None:
                process.kill()
    assert (signals / "builds").read_text() == f"{first.pid}\n"     # built once, by the first run
    assert (built["reused"], reused["reused"]) == (False, True)
    assert reused["cache_key"] == built["cache_key"] and reused["built_by"] == built["built_by"] == str(first.pid)
    lock = isolated_state / "locks" / "raced_stage" / f"{built['cache_key']}.lock"
    assert f"raced_stage: another run is building artifact {built['cache_key']} (lock {lock}); waiting" \
        in logs["second"].read_text()


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
