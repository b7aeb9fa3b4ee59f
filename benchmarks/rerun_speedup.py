"""Cold run vs no-change rerun of the ``full_viss_r1`` job, through the Dagster CLI.

Three runs in a throw-away state folder: cold (everything built), a rerun with nothing changed
(every artifact reused), and a rerun where only the pretext seed changes (``pretext_samples``
and what is downstream of it rebuilt; ingestion reused). Wall clock includes the CLI's start-up (≈3 s, imports and loading
the code location), which dominates a small job; the in-job time (RUN_START → RUN_SUCCESS, from
the run's event log) excludes it. Goal: rerun/cold ≤ 0.15×.

    .venv/bin/python benchmarks/rerun_speedup.py [--small]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _clips import small_flag  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GOAL = 0.15
SMALL_CONFIG = {"video_sources": {"config": {"synthetic": {"num_train": 24, "num_eval": 6}}}}
SEED_CONFIG = {"pretext_samples": {"config": {"seed": 1}}}


def execute(env: dict, config: dict, folder: Path, name: str) -> float:
    command = [str(REPO / ".venv" / "bin" / "dagster"), "job", "execute", "-m", "pipelines", "-j", "full_viss_r1"]
    if config:
        config_file = folder / f"{name}.yaml"
        config_file.write_text(json.dumps({"ops": config}))  # JSON is YAML
        command += ["-c", str(config_file)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0 or "RUN_SUCCESS" not in done.stdout + done.stderr:
        sys.exit(f"{name} run failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    return wall


def in_job_times(dagster_home: Path) -> list[tuple[float, dict[str, float]]]:
    """(RUN_START → RUN_SUCCESS seconds, {step: STEP_START → STEP_SUCCESS seconds}) per run, oldest first."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    instance = dg.DagsterInstance.get()
    times = []
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp):
        steps: dict[str, float] = {}
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if event and event.event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS):
                steps[event.step_key] = entry.timestamp - steps.get(event.step_key, 0.0)
        times.append((record.end_time - record.start_time, steps))
    return times


def main() -> None:
    small = small_flag(__doc__.splitlines()[0])
    base = SMALL_CONFIG if small else {}
    with tempfile.TemporaryDirectory(prefix="viss_r1_bench_") as tmp:
        state = Path(tmp) / "state"
        dagster_home = state / "dagster_home"
        dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "infra" / "dagster.yaml", dagster_home / "dagster.yaml")
        env = {**os.environ, "VISS_R1_STATE_DIR": str(state), "DAGSTER_HOME": str(dagster_home)}
        for name in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT"):
            env.pop(name, None)

        runs = {}
        for name, config in [("cold", base), ("rerun", base), ("seed change", base | SEED_CONFIG)]:
            runs[name] = execute(env, config, Path(tmp), name.replace(" ", "_"))
            print(f"{name:12s} run done: {runs[name]:.1f} s wall", flush=True)
        in_job = in_job_times(dagster_home)

    print(f"\nfull_viss_r1 on the {'small (24+6 clips)' if small else 'embedded default (240+60 clips)'} synthetic set:")
    print(f"  {'':12s} {'wall (CLI)':>11s} {'in-job':>8s}")
    for (name, wall), (job, _) in zip(runs.items(), in_job):
        print(f"  {name:12s} {wall:10.2f}s {job:7.2f}s")
    (cold, cold_job), (rerun, rerun_job) = (runs["cold"], in_job[0][0]), (runs["rerun"], in_job[1][0])
    for label, ratio in [("wall", rerun / cold), ("in-job", rerun_job / cold_job)]:
        print(f"  rerun/cold ({label}): {ratio:.3f}×  (goal ≤ {GOAL}×: {'met' if ratio <= GOAL else 'MISSED'})")
    print(f"  seed change/cold: {runs['seed change'] / cold:.3f}× wall, {in_job[2][0] / cold_job:.3f}× in-job")
    print("\n  per step, STEP_START → STEP_SUCCESS (s):")
    steps = list(in_job[0][1])
    width = max(map(len, steps))
    print(f"  {'step':{width}s}" + "".join(f"{name:>13s}" for name in runs))
    for step in steps:
        print(f"  {step:{width}s}" + "".join(f"{times.get(step, float('nan')):13.2f}" for _, times in in_job))


if __name__ == "__main__":
    main()
