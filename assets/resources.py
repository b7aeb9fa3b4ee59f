"""Resources the assets need, injected by the Definitions (pipelines/) — never imported globals."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Literal, Mapping

import dagster as dg

from viss_r1.artifacts import ArtifactRef, ArtifactStore


def state_dir() -> str:
    """Where run state goes by default: ``$VISS_R1_STATE_DIR`` or ``./state``."""
    return os.path.abspath(os.environ.get("VISS_R1_STATE_DIR", "state"))


class ArtifactStoreResource(dg.ConfigurableResource):
    """Content-addressed artifact store; ``root`` is a folder or any fsspec URL (s3://, gs://)."""

    root: str

    def store(self) -> ArtifactStore:
        return ArtifactStore(self.root)

    def local_path(self, ref: ArtifactRef):
        return self.store().local_path(ref)


class MlflowTracking(dg.ConfigurableResource):
    """One MLflow experiment per job, a parent run per Dagster run, a nested run per asset."""

    tracking_uri: str
    experiment_prefix: str = "viss_r1"

    @contextmanager
    def stage_run(
        self,
        context: dg.AssetExecutionContext,
        params: Mapping[str, Any],
        inputs: Mapping[str, ArtifactRef],
        tags: Mapping[str, Any],
    ) -> Iterator[Any]:
        from viss_r1.tracking import Tracker

        job = context.run.job_name or "adhoc"
        tracker = Tracker(self.tracking_uri, f"{self.experiment_prefix}/{job}")
        with tracker.stage_run(
            pipeline_run_id=context.run.run_id,
            pipeline_name=job,
            stage=context.asset_key.to_user_string(),
            params=params,
            inputs={name: (ref.key, ref.uri) for name, ref in inputs.items()},
            tags=tags,
        ) as run:
            yield run


class TrainingLauncher(dg.ConfigurableResource):
    """Runs a training entry point (``python -m viss_r1.train.…``) as its own process through
    Dagster Pipes, so it can use every GPU of the machine and outlive nothing: its metrics and
    logs stream back, its checkpoints let a rerun resume. ``launcher`` picks plain Python,
    ``accelerate launch`` or ``torchrun``; ``launcher_args`` go before the module (e.g.
    ``["--config_file", "infra/accelerate/8gpu_zero2.yaml"]`` or ``["--nproc_per_node", "8"]``);
    ``stage_launcher_args`` replace them for one entry point (e.g. ZeRO-3 for ``viss_r1.train.grpo``
    while SFT keeps ZeRO-2)."""

    launcher: Literal["python", "accelerate", "torchrun"] = "python"
    launcher_args: list[str] = []
    stage_launcher_args: dict[str, list[str]] = {}
    env: dict[str, str] = {}

    def command(self, module: str, config_file: str) -> list[str]:
        launcher_args = self.stage_launcher_args.get(module, self.launcher_args)
        prefix = {
            "python": [sys.executable],
            "accelerate": [sys.executable, "-m", "accelerate.commands.launch", *launcher_args],
            "torchrun": [sys.executable, "-m", "torch.distributed.run", *launcher_args],
        }[self.launcher]
        if self.launcher == "python" and launcher_args:
            raise ValueError("launcher_args need launcher 'accelerate' or 'torchrun'")
        return [*prefix, "-m", module, "--config", config_file]

    def run(self, context: dg.AssetExecutionContext, module: str, config_file: str) -> dict[str, Any]:
        """Run to completion; return the metadata the process reported."""
        from dagster._core.errors import DagsterPipesExecutionError  # not exported at top level

        command = self.command(module, config_file)
        context.log.info(f"launching: {' '.join(command)}")
        client = dg.PipesSubprocessClient(env={"TOKENIZERS_PARALLELISM": "false", **self.env})
        try:
            invocation = client.run(context=context, command=command)
        except DagsterPipesExecutionError as error:
            raise dg.Failure(f"{module} failed ({error}); its output is in the step log above. "
                             f"Rerun it by hand with: {' '.join(command)} (training resumes from its last "
                             "checkpoint)") from None
        return {k: v.value for k, v in invocation.get_materialize_result().metadata.items()}
