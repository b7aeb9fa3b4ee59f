"""Cold run vs no-change rerun of the ``full_viss_r1`` job, through the Dagster CLI.

Three runs in a throw-away state folder: cold (everything built), a rerun with nothing changed
(every artifact reused), and a rerun where only the pretext seed changes (``pretext_samples``
and what is downstream of it rebuilt; ingestion reused). Wall clock includes the CLI's start-up (≈3 s, imports and loading
the code location), which dominates a small job; the in-job time (RUN_START → RUN_SUCCESS, from
the run's event log) excludes it. Goal: rerun/cold ≤ 0.15×. The cold run's footprint is printed
too (goals of the embedded default: ≤ 20 min for the whole chain, ≤ 6 GB): the peak of the summed resident memory of
the CLI process and every process it starts, sampled from /proc every 0.25 s (pages shared between
processes count once per process, so the sum is an upper bound), the peak of their summed
proportional memory (PSS: a shared page split among the processes sharing it, so the sum is the
memory the run holds, sampled every 2 s: reading it walks each process's page tables), and the
largest single process.

    .venv/bin/python benchmarks/rerun_speedup.py [--small] [--no-seed-change] [--keep DIR]

``--keep DIR`` runs in DIR (new or empty) and leaves the state there, e.g. for
``learning_check.py --state DIR/state``; ``--no-seed-change`` stops after the no-change rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from viss_r1.stages import FULL_VISS_R1  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GOAL = 0.15
SMALL_CONFIG = {"video_sources": {"config": {"synthetic": {"num_train": 24, "num_eval": 6}}}}
SEED_CONFIG = {"pretext_samples": {"config": {"seed": 1}}}


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
PSS_EVERY = 8   # samples


def proportional_bytes(pid: int) -> int:
    """The PSS of ``pid`` (/proc/<pid>/smaps_rollup), 0 if it ended or cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def tree_memory(root: int, proportional: bool = True) -> list[tuple[int, int, int]]:
    """(resident bytes, proportional bytes or 0 when not ``proportional``, pid) of ``root`` and each
    of its descendants, from /proc."""
    parents, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            resident_pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
        rss[int(entry.name)] = resident_pages * PAGE_BYTES
    family, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in family} - family
        family |= children
        grew = bool(children)
    return [(rss[pid], proportional_bytes(pid) if proportional else 0, pid) for pid in family if pid in rss]


def process_label(pid: int) -> str:
    """What a process of the run is, from its command line: the module it runs (``-m``, else the
    program), and for a stage process (``--config``) the asset it builds; '?' once it has ended."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    if not words[0]:
        return "?"   # ended, not yet reaped
    module = words[words.index("-m") + 1] if "-m" in words[:-1] else Path(words[0]).name
    if "--config" in words[:-1]:   # a stage process: state/work/<asset>/<key>/<stage config>
        return f"{module} ({Path(words[words.index('--config') + 1]).parent.parent.name})"
    return module


def execute(env: dict, config: dict, folder: Path, name: str) -> tuple[float, int, int, int, list[tuple[str, int]]]:
    """(wall seconds, peak summed RSS of the process tree, peak RSS of one process, peak summed PSS
    of the process tree, the processes alive at the RSS peak: (what, RSS bytes), largest first) of
    one CLI run."""
    command = [str(REPO / ".venv" / "bin" / "dagster"), "job", "execute", "-m", "pipelines", "-j", FULL_VISS_R1.name]
    if config:
        config_file = folder / f"{name}.yaml"
        config_file.write_text(json.dumps({"ops": config}))  # JSON is YAML
        command += ["-c", str(config_file)]
    started = time.perf_counter()
    log = folder / f"{name}.log"
    peak_total = peak_single = peak_proportional = 0
    at_peak: list[tuple[str, int]] = []
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        samples = 0
        while process.poll() is None:
            # PSS walks each process's page tables: every PSS_EVERY-th sample (2 s), so that the watching
            # takes 2-3 % of a core, not the 15 % it takes every 0.25 s.
            sizes = tree_memory(process.pid, proportional=samples % PSS_EVERY == 0)
            resident = [r for r, _, _ in sizes]
            if sum(resident) > peak_total:
                at_peak = sorted(((process_label(pid), r) for r, _, pid in sizes), key=lambda item: -item[1])
            peak_total, peak_single = max(peak_total, sum(resident)), max([peak_single, *resident])
            peak_proportional = max(peak_proportional, sum(p for _, p, _ in sizes))
            samples += 1
            time.sleep(0.25)
    wall = time.perf_counter() - started
    output = log.read_text()
    if process.returncode != 0 or "RUN_SUCCESS" not in output:
        sys.exit(f"{name} run failed (exit {process.returncode}):\n{output[-4000:]}")
    return wall, peak_total, peak_single, peak_proportional, at_peak


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


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="24 training + 6 eval clips (each stage still trains its default steps: not quick)")
    parser.add_argument("--no-seed-change", action="store_true", help="skip the third run (seed change)")
    parser.add_argument("--keep", type=Path, help="run in this folder (new or empty) and leave the state there")
    args = parser.parse_args()
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: the folder is not empty (a cold run needs a fresh state)")
    return args


def main() -> None:
    args = arguments()
    base = SMALL_CONFIG if args.small else {}
    plan = [("cold", base), ("rerun", base)] + ([] if args.no_seed_change else [("seed change", base | SEED_CONFIG)])
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    folder = contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory(prefix="viss_r1_bench_")
    with folder as tmp:
        state = Path(tmp) / "state"
        dagster_home = state / "dagster_home"
        dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "infra" / "dagster.yaml", dagster_home / "dagster.yaml")
        env = {**os.environ, "VISS_R1_STATE_DIR": str(state), "DAGSTER_HOME": str(dagster_home)}
        for name in ("MLFLOW_TRACKING_URI", "VISS_R1_ARTIFACT_ROOT"):
            env.pop(name, None)

        runs, memory, at_peak = {}, {}, {}
        for name, config in plan:
            runs[name], *memory[name], at_peak[name] = execute(env, config, Path(tmp), name.replace(" ", "_"))
            print(f"{name:12s} run done: {runs[name]:.1f} s wall", flush=True)
        in_job = in_job_times(dagster_home)

    print(f"\nfull_viss_r1 on the {'small (24+6 clips)' if args.small else 'embedded default'} synthetic set:")
    print(f"  {'':12s} {'wall (CLI)':>11s} {'in-job':>8s}")
    for (name, wall), (job, _) in zip(runs.items(), in_job):
        print(f"  {name:12s} {wall:10.2f}s {job:7.2f}s")
    (cold, cold_job), (rerun, rerun_job) = (runs["cold"], in_job[0][0]), (runs["rerun"], in_job[1][0])
    for label, ratio in [("wall", rerun / cold), ("in-job", rerun_job / cold_job)]:
        print(f"  rerun/cold ({label}): {ratio:.3f}×  (goal ≤ {GOAL}×: {'met' if ratio <= GOAL else 'MISSED'})")
    if "seed change" in runs:
        print(f"  seed change/cold: {runs['seed change'] / cold:.3f}× wall, {in_job[2][0] / cold_job:.3f}× in-job")
    total, single, proportional = (value / 2**30 for value in memory["cold"])
    print(f"  cold run: {cold / 60:.1f} min wall, {cold_job / 60:.1f} min in-job (goal ≤ 20 min); peak RSS "
          f"{total:.2f} GB all processes together, {single:.2f} GB the largest one; peak PSS "
          f"{proportional:.2f} GB all processes together (goal ≤ 6 GB: RSS {'met' if total <= 6 else 'MISSED'}, "
          f"PSS {'met' if proportional <= 6 else 'MISSED'})")
    # Which processes make the peak: where to look for memory to save.
    print("  at the cold run's RSS peak: " + ", ".join(f"{what} {size / 2**30:.2f} GB" for what, size in at_peak["cold"]))
    print("\n  per step, STEP_START → STEP_SUCCESS (s):")
    steps = list(in_job[0][1])
    width = max(map(len, steps))
    print(f"  {'step':{width}s}" + "".join(f"{name:>13s}" for name in runs))
    for step in steps:
        print(f"  {step:{width}s}" + "".join(f"{times.get(step, float('nan')):13.2f}" for _, times in in_job))


if __name__ == "__main__":
    main()
