"""The console of a run: what someone watching ``dagster job execute`` (``make run``) reads.

Dagster's own console logger prints every event of a run at DEBUG — a dozen lines a step about
inputs loaded, outputs handled, resources started — between the lines that matter. This one
prints, one short line each, what the assets say at INFO and above (an artifact built or reused,
each stage's progress line, the leaderboard), warnings and errors with their traceback, the
run's start and end, retries, and checks that did not pass. Loggers filter only the console:
every event still goes to the run's event log, so the Dagster UI shows the run in full.

``log_level: DEBUG`` brings Dagster's full console back, set in the run config
(``loggers: {console: {config: {log_level: DEBUG}}}``) or for every run with the environment
variable ``VISS_R1_LOG_LEVEL=DEBUG``; the run config wins."""

from __future__ import annotations

import logging
import os
import time
import warnings

import dagster as dg

# Dagster warns at every step that a data version (assets/caching.py) is a beta feature and that
# Pipes counts its writers with a preview one: both used knowingly, with Dagster pinned
# (assets/launcher.py checks the version), so the warnings say nothing new after the first run.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

LOG_LEVEL_ENV = "VISS_R1_LOG_LEVEL"
DEFAULT_LEVEL = "INFO"
# Dagster logs these at DEBUG like every other event, but they are what a person waits for.
SHOWN_EVENTS = {dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE,
                dg.DagsterEventType.RUN_CANCELED, dg.DagsterEventType.STEP_UP_FOR_RETRY}
# Dagster's chatter about the Pipes channel of each stage process ("[pipes] external process
# successfully opened dagster pipes."): at INFO, and nothing a reader acts on.
PIPES_CHATTER = "[pipes] "
# Dagster's own console format, for the full (DEBUG) console.
DAGSTER_FORMAT = "%(asctime)s - dagster - %(levelname)s - %(message)s"
DAGSTER_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


def _metadata(record: logging.LogRecord) -> dict:
    return getattr(record, "dagster_meta", None) or {}


def _event(record: logging.LogRecord):
    return _metadata(record).get("dagster_event")


def shown(record: logging.LogRecord, level: int) -> bool:
    """Whether the readable console prints ``record`` at threshold ``level``."""
    event = _event(record)
    if event is not None:
        if event.event_type in SHOWN_EVENTS:
            return True
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            return not event.event_specific_data.passed
    if record.levelno < level:
        return False
    message = _metadata(record).get("orig_message", "")
    return not (record.levelno == logging.INFO and message.startswith(PIPES_CHATTER))


class ReadableFormatter(logging.Formatter):
    """``HH:MM:SS <step or job>: [LEVEL] [EVENT] message``, an error's traceback below it."""

    def format(self, record: logging.LogRecord) -> str:
        meta, event = _metadata(record), _event(record)
        where = meta.get("step_key") or meta.get("job_name") or "dagster"
        text = meta.get("orig_message", record.getMessage())
        if event is not None:
            text = f"{event.event_type.name} {text}"   # RUN_SUCCESS, not its stored value PIPELINE_SUCCESS
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                text += "\n" + error.to_string()
        level = f"{record.levelname} " if record.levelno >= logging.WARNING else ""
        return f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {where}: {level}{text}"


def console_level(configured: str | None) -> int:
    """The threshold: the run config's ``log_level``, else ``VISS_R1_LOG_LEVEL``, else INFO."""
    name = (configured or os.environ.get(LOG_LEVEL_ENV) or DEFAULT_LEVEL).upper()
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        source = "log_level" if configured else LOG_LEVEL_ENV
        raise ValueError(f"{source} {name!r} is not a log level: use DEBUG, INFO, WARNING or ERROR")
    return level


def console_logger(level: int) -> logging.Logger:
    """At DEBUG, Dagster's console (every event); above it, the readable one."""
    logger = logging.Logger("viss_r1.console", level=logging.DEBUG)   # outside the logging tree: no propagation
    handler = logging.StreamHandler()   # stderr, as Dagster's own console
    if level <= logging.DEBUG:
        handler.setFormatter(logging.Formatter(DAGSTER_FORMAT, DAGSTER_DATE_FORMAT))
    else:
        handler.setFormatter(ReadableFormatter())
        handler.addFilter(lambda record: shown(record, level))
    logger.addHandler(handler)
    return logger


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False,
                                         description=f"DEBUG: Dagster's full console (every event). "
                                                     f"Default: ${LOG_LEVEL_ENV}, else {DEFAULT_LEVEL}.")},
    description="The readable console: INFO and above, the run's start and end, retries and failed checks.",
)
def readable_console(init_context) -> logging.Logger:
    return console_logger(console_level((init_context.logger_config or {}).get("log_level")))


CONSOLE_LOGGERS = {"console": readable_console}
# Dagster uses a job's loggers only when the run config names them (else its own DEBUG console):
# the jobs name ours in their default run config (pipelines/jobs.py), which a run config naming
# loggers replaces. Dagster checks a default run config as a whole, so a job that needs a run
# config of its own (evaluate, annotate_cot) gets the readable console when that config names it.
CONSOLE_RUN_CONFIG = {"loggers": {"console": {}}}
