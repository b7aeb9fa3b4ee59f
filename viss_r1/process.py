"""What every stage process shares: a strict run config, the command line, the Dagster Pipes session.

Training (``python -m viss_r1.train.sft|grpo``), evaluation (``viss_r1.evaluate.run``) and SSL-CoT
annotation (``viss_r1.data.cot_annotation``) run as plain processes, launched by Dagster through
Pipes or by hand. Each reads its typed run config from ``--config FILE`` (YAML or JSON, written
by the asset or by a user — the same objects, so both mean exactly the same thing), runs, and,
when Dagster launched it, reports its result as the asset's materialization metadata.

The bottom of the library: it imports no other ``viss_r1`` module, ``dagster_pipes`` is its only
Dagster import, and it never imports torch (every stage process pays for what this module loads)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """The base of every run config: an unknown field is refused, so a misspelt setting fails the
    run instead of silently leaving its default in place."""

    model_config = ConfigDict(extra="forbid")


Config = TypeVar("Config", bound=StrictModel)


def load_config(path: str | Path, model: type[Config]) -> Config:
    """``model`` read from a YAML or JSON (``.json``) file."""
    text = Path(path).read_text()
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        unknown = [".".join(map(str, e["loc"])) for e in error.errors() if e["type"] == "extra_forbidden"]
        hint = (f"; unknown field(s) {unknown}: fix their spelling or remove them (the fields are "
                f"{model.__name__}'s)" if unknown else "")
        # A ValueError, as pydantic's own error is: callers that catch one still do.
        raise ValueError(f"{path}: not a valid {model.__name__}{hint}\n{error}") from None


def write_config(config: StrictModel, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path


def is_main_process() -> bool:
    """Rank 0, or a single process: under accelerate/torchrun every rank runs the same code."""
    return int(os.environ.get("RANK", "0")) == 0


def launched_by_dagster() -> bool:
    """Whether Dagster Pipes started this process (its context is in the environment)."""
    from dagster_pipes import PipesEnvVarParamsLoader

    return PipesEnvVarParamsLoader().is_dagster_pipes_process()


@contextlib.contextmanager
def pipes_session() -> Iterator[Any | None]:
    """The Dagster Pipes context when Dagster launched this process (main process only), else None."""
    from dagster_pipes import open_dagster_pipes

    if not (is_main_process() and launched_by_dagster()):
        yield None
        return
    with open_dagster_pipes() as pipes:
        yield pipes


# The pid of the process that launched a stage, set by the local stage launcher (assets/launcher.py).
# Read once by die_with_launcher and removed, so the processes the stage starts name their own parent.
LAUNCHER_PID_ENV = "VISS_R1_LAUNCHER_PID"


def launcher_env() -> dict[str, str]:
    """What a launcher adds to a stage's environment so that the stage knows whom to die with."""
    return {LAUNCHER_PID_ENV: str(os.getpid())}


def die_with_launcher() -> None:
    """Linux: have the kernel send this process SIGTERM when the process that launched it dies.

    A stage launched by Dagster (Pipes) outlives a Dagster process killed with SIGKILL; the next run
    then finds that run dead, frees its pool slot and its build lock (assets/run_liveness.py,
    assets/caching.py) and would start the same stage into the same work folder beside the orphan.
    Dying with the launcher costs at most the steps since the last checkpoint, which the rerun
    resumes from. Under accelerate or torchrun the launcher is that tool, so a rank dies with it, not
    with Dagster. Run by hand (no Pipes), a stage outlives its shell as any command does."""
    if not sys.platform.startswith("linux") or not launched_by_dagster():
        return
    import ctypes
    import signal

    # An ignored or blocked SIGTERM survives exec: a Dagster started under a supervisor that ignores
    # it would hand that on, and the kernel's signal would then change nothing.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The launcher may already be gone: a stage imports torch before it gets here, seconds on a
    # busy machine. Its parent is then a reaper, so only the pid the launcher gave shows it.
    named = os.environ.pop(LAUNCHER_PID_ENV, "")
    launcher = int(named) if named.isdigit() else os.getppid()
    pr_set_pdeathsig = 1   # <linux/prctl.h>
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM) != 0:
        return   # not allowed here (a sandbox): the stage runs on as before
    if os.getppid() != launcher:   # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def end_distributed() -> None:
    """Leave the process group together: a rank that exits while gloo threads still run aborts
    ("terminate called without an active exception") and fails the whole launch. A process that
    never imported torch.distributed never joined a group, so it is not imported here."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def command_line(description: str, config_type: type[Config],
                 run: Callable[[Config, Any | None], Mapping[str, Any]], curve: str | None = None,
                 argv: list[str] | None = None) -> None:
    """A stage's ``main``: ``--config FILE`` → ``run(config, pipes)`` (``pipes`` None when not
    launched by Dagster). The result, without its per-step ``curve`` and its None values, becomes
    the asset's materialization metadata when Dagster launched the process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help=f"YAML or JSON file holding a {config_type.__name__}")
    args, _ = parser.parse_known_args(argv)  # Pipes may append its own arguments
    config = load_config(args.config, config_type)
    die_with_launcher()
    with pipes_session() as pipes:
        result = run(config, pipes)
        if pipes is not None:
            pipes.report_asset_materialization(metadata={
                k: v for k, v in result.items() if k != curve and v is not None})
    end_distributed()
