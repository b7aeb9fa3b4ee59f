"""The arms' jobs run their steps side by side: Dagster's multiprocess executor, steps forked from a
server that has already imported ``pipelines`` (so a step starts in a fraction of a second, not
the ≈2.5 s of fresh imports), at most ``max_concurrent`` at a time (default 2).

How many trainings and evaluations overlap is the instance's ``gpu`` pool's limit, not this
executor's: 1 where a GPU trains (``infra/dagster.yaml``: one training per device, across every
run), 2 on a machine without one (``infra/dagster-cpu.yaml``), where two stage processes share the
cores (``viss_r1.cpu_share``) and together do 1.35–1.43× the work one does alone on all of them.
After the shared warm-up the arms' stages and the evaluations no later stage waits for run beside
the chain that ends the job.

What a killed run leaves stays what it was with one process per run. The run worker (this
executor's process) holds the run's lock file (``assets/run_liveness.py``) from start to end,
including while no step runs, so a later run judges it alive or dead as before, and writes its pid
beside it. A training or evaluation step process watches that pid and ends the moment the run
worker does (``die_with_run_worker``: its parent is the fork server, which lives on while any step
does), and the step's stage process ends with its step process
(``viss_r1.process.die_with_launcher``); so nothing of a killed run trains on beside its rerun, and
every build lock it held is dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import dagster as dg

from assets.launcher import DAGSTER_VERSION, StageLauncher
from assets.resources import state_dir
from assets.run_liveness import RunLiveness
from viss_r1.pinned_versions import require_version

# Private APIs this module subclasses or calls, checked against the pinned version when a run starts.
DAGSTER_PRIVATE_API = ("dagster._core.executor.multiprocess.MultiprocessExecutor.execute",
                       "dagster._core.execution.retries.RetryMode")
DEFAULT_MAX_CONCURRENT = 2
# What a step process would import before its first line of work: the definitions, and the instance's
# storage (SQLite or PostgreSQL, alembic, the daemon's modules: ≈0.7 s of CPU a step when not preloaded).
PRELOAD = ["pipelines", "dagster._core.instance.factory", "dagster._core.storage.sqlite_storage",
           "dagster._core.storage.runs", "dagster._core.storage.event_log", "dagster._core.storage.schedules",
           "dagster._daemon"]


def pool_check_interval_s(run_config: dict) -> float:
    """``stage_launcher.config.pool_check_interval_s`` of the run config, else the resource's default:
    the run worker, not the step processes, watches the pool in a side-by-side run."""
    configured = run_config.get("resources", {}).get("stage_launcher", {}).get("config", {}) or {}
    return float(configured.get("pool_check_interval_s", StageLauncher.model_fields["pool_check_interval_s"].default))


def _multiprocess_executor_class():
    from dagster._core.executor.multiprocess import MultiprocessExecutor

    class SideBySideExecutor(MultiprocessExecutor):
        """Dagster's multiprocess executor, holding the run's liveness lock in the run worker."""

        def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
            liveness = RunLiveness(plan_context.instance, plan_context.dagster_run.run_id, Path(state_dir()),
                                   plan_context.log.warning, pool_check_interval_s(plan_context.run_config),
                                   steps_elsewhere=True)
            liveness.start()
            try:
                yield from super().execute(plan_context, execution_plan)
            finally:
                liveness.stop()

    return SideBySideExecutor


@dg.executor(name="side_by_side",
             config_schema={"max_concurrent": dg.Field(int, default_value=DEFAULT_MAX_CONCURRENT,
                                                       description="steps running at once (the gpu "
                                                       "pool's limit bounds the trainings among them)")},
             requirements=dg.multiple_process_executor_requirements())
def side_by_side_executor(init_context: dg.InitExecutorContext):
    """Steps in processes of their own, ``max_concurrent`` at a time, forked from a server that
    preloads ``pipelines``; the run's liveness lock in the run worker (pipelines/executor.py)."""
    require_version("dagster", DAGSTER_VERSION, "the side-by-side executor (pipelines/executor.py)",
                    DAGSTER_PRIVATE_API)
    from dagster._core.execution.retries import RetryMode

    max_concurrent = init_context.executor_config["max_concurrent"]
    if max_concurrent < 1:
        raise dg.DagsterInvalidConfigError(
            f"execution.config.max_concurrent must be at least 1, got {max_concurrent}", [], max_concurrent)
    return _multiprocess_executor_class()(retries=RetryMode.ENABLED, max_concurrent=max_concurrent,
                                          start_method="forkserver", explicit_forkserver_preload=PRELOAD)


