"""The GPU check's one JSON: every step's outcome and figures (``benchmarks/gpu_check.sh`` calls it).

    python3 benchmarks/gpu_check_report.py record STEPS_DIR NAME --rc RC --seconds S --limit L [--log LOG] [--figures JSON] [--note TEXT]
    python3 benchmarks/gpu_check_report.py write STEPS_DIR OUT [--machine JSON] [--budget S] [--started EPOCH]

``record`` keeps one step's outcome in ``STEPS_DIR/<n>-NAME.json``; ``write`` gathers them, in the
order they ran, with the machine's description, into OUT. The shell script writes the report
after every step, so a run cut short still leaves what it measured. Standard library only: it
runs with the machine's own interpreter, before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

LOG_TAIL_CHARS = 4000   # of a failed step's log, so one file says why


def status_of(rc: int | None) -> str:
    if rc is None:
        return "skipped"
    if rc == 0:
        return "passed"
    return "timed out" if rc in (124, 137) else "failed"


def record(steps: Path, name: str, rc: int | None, seconds: float, limit: float | None, log: Path | None,
           figures: Path | None, note: str | None) -> dict:
    steps.mkdir(parents=True, exist_ok=True)
    outcome = {"name": name, "status": status_of(rc), "rc": rc, "seconds": round(seconds, 1),
               "limit_s": limit}
    if note:
        outcome["note"] = note
    if figures is not None and figures.exists():
        try:
            outcome["figures"] = json.loads(figures.read_text())
        except json.JSONDecodeError as error:
            outcome["figures_error"] = f"{figures}: {error}"
    if log is not None and log.exists() and rc not in (0, None):
        outcome["log_tail"] = log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    order = len(list(steps.glob("*.json")))
    (steps / f"{order:02d}-{name}.json").write_text(json.dumps(outcome, indent=2))
    return outcome


def write(steps: Path, out: Path, machine: Path | None, budget: float | None, started: float | None) -> dict:
    report = {
        "check": "benchmarks/gpu_check.sh",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": round(time.time() - started, 1) if started else None,
        "budget_s": budget,
        "machine": json.loads(machine.read_text()) if machine is not None and machine.exists() else None,
        "steps": [json.loads(path.read_text()) for path in sorted(steps.glob("*.json"))],
    }
    report["failed"] = [step["name"] for step in report["steps"] if step["status"] in ("failed", "timed out")]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("record")
    one.add_argument("steps", type=Path)
    one.add_argument("name")
    one.add_argument("--rc", type=int, help="the step's exit status; none: it was skipped")
    one.add_argument("--seconds", type=float, default=0.0)
    one.add_argument("--limit", type=float)
    one.add_argument("--log", type=Path)
    one.add_argument("--figures", type=Path)
    one.add_argument("--note")
    every = commands.add_parser("write")
    every.add_argument("steps", type=Path)
    every.add_argument("out", type=Path)
    every.add_argument("--machine", type=Path)
    every.add_argument("--budget", type=float)
    every.add_argument("--started", type=float)
    args = parser.parse_args()
    if args.command == "record":
        record(args.steps, args.name, args.rc, args.seconds, args.limit, args.log, args.figures, args.note)
    else:
        write(args.steps, args.out, args.machine, args.budget, args.started)


if __name__ == "__main__":
    main()
