"""The stage launcher: how a stage's process — training (``python -m viss_r1.train.sft|grpo``),
evaluation (``viss_r1.evaluate.run``) or SSL-CoT annotation (``viss_r1.data.cot_annotation``) — is
started, watched and read back through Dagster Pipes (``viss_r1.process`` is its other end).

Two backends run the same command line: a local subprocess (the default) and a Kubernetes pod
(dagster-k8s Pipes, the pod spec from ``infra/k8s/training-pod.yaml``). Either may wrap it in
``accelerate launch`` or ``torchrun`` for many GPUs, and in a multi-node launch every node runs it
with its own rank and the same rendezvous settings (DESIGN.md "Scale")."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import dagster as dg
import yaml
from pydantic import PrivateAttr

from assets import pipes_messages
from assets.resources import state_dir
from assets.run_liveness import RunLiveness

from viss_r1.pinned_versions import PinnedVersionError, require_version
from viss_r1.process import launcher_env

LAUNCH_MODULES = {"accelerate": "accelerate.commands.launch", "torchrun": "torch.distributed.run"}
EXEC_WITH_LAUNCHER = "viss_r1.exec_with_launcher"   # runs a launcher tool so that it dies with Dagster
REPO_ROOT = Path(__file__).resolve().parent.parent
# What a pod needs to find the shared state, the artifact store and the MLflow server. The
# run config already names the MLflow run; these let the process open the same stores.
FORWARDED_ENV = ["MLFLOW_TRACKING_URI", "VISS_R1_STATE_DIR", "VISS_R1_ARTIFACT_ROOT"]
# A stage process reports through its progress line; the libraries' own progress bars ("Loading
# weights", "Writing model shards") and MLflow's INFO lines would only interleave with it. Set
# them back in stage_launcher.env (e.g. HF_HUB_DISABLE_PROGRESS_BARS: "0").
PROCESS_ENV = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
               "MLFLOW_LOGGING_LEVEL": "WARNING"}
# Private APIs each backend uses, and the pinned versions they follow (checked before each launch).
DAGSTER_VERSION = "1.13.27"
DAGSTER_PRIVATE_API = ("dagster._core.errors.DagsterPipesExecutionError", *pipes_messages.PRIVATE_API)
DAGSTER_K8S_VERSION = "0.29.27"
DAGSTER_K8S_PRIVATE_API = ("dagster_k8s.pipes.build_pod_body", "dagster_k8s.PipesK8sClient._load_k8s_config")


class Rendezvous(dg.Config):
    """Multi-node settings. Every node runs the same command with its own rank; node 0 hosts the
    rendezvous at ``host:port``. On Kubernetes the launcher starts every node and sets ``host``
    (node 0's DNS name) itself; with the local backend, something else (a cluster scheduler) runs
    the command on the other nodes, with ``node_rank`` set for each."""

    nnodes: int = 1
    node_rank: int = 0
    host: str = ""
    port: int = 29400
    run_id: str = "viss-r1"      # torchrun's rendezvous id: nodes of one launch share it
    modules: Optional[list[str]] = None   # the entry points that span the nodes; None: every one

    def nodes_for(self, module: str) -> int:
        return self.nnodes if self.modules is None or module in self.modules else 1

    def arguments(self, launcher: str, node_rank: int | None = None, host: str | None = None,
                  run_id: str | None = None) -> list[str]:
        """The launcher's multi-node flags; ``node_rank``/``host``/``run_id`` override the config's
        (the Kubernetes backend sets them per pod and per launch)."""
        if self.nnodes == 1:
            return []
        rank, host = (self.node_rank if node_rank is None else node_rank), (host or self.host)
        if not host:
            raise ValueError(f"rendezvous.host is empty: a {self.nnodes}-node launch needs node 0's address")
        if launcher == "torchrun":
            return ["--nnodes", str(self.nnodes), "--node_rank", str(rank), "--rdzv_backend", "c10d",
                    "--rdzv_endpoint", f"{host}:{self.port}", "--rdzv_id", run_id or self.run_id]
        return ["--num_machines", str(self.nnodes), "--machine_rank", str(rank),
                "--main_process_ip", host, "--main_process_port", str(self.port)]


class KubernetesLaunch(dg.Config):
    """Where and how stage pods run. The pod file holds everything cluster-specific (image,
    volumes, tolerations); these fields are what changes per deployment or per stage."""

    pod_spec_file: str = "infra/k8s/training-pod.yaml"   # relative to the repo root, or absolute
    image: Optional[str] = None                           # overrides the file's container image
    namespace: Optional[str] = None                       # default: the file's, else the current one
    gpus_per_node: int = 1                                # the container's nvidia.com/gpu limit
    forward_env: list[str] = FORWARDED_ENV                # copied from the Dagster process when set
    nodes_service: str = "viss-r1-nodes"                  # headless service (infra/k8s/training-nodes.yaml)
    load_incluster_config: Optional[bool] = None          # None: in-cluster when running in a pod
    kubeconfig_file: Optional[str] = None
    poll_interval_s: float = 10.0

    def base_pod(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The pod file's metadata and spec, with the GPU limit applied."""
        path = Path(self.pod_spec_file)
        path = path if path.is_absolute() else REPO_ROOT / path
        manifest = yaml.safe_load(path.read_text())
        if manifest.get("kind") != "Pod" or not manifest.get("spec", {}).get("containers"):
            raise ValueError(f"{path}: expected a Pod manifest with spec.containers, got kind {manifest.get('kind')!r}")
        spec = manifest["spec"]
        container = spec["containers"][0]
        limits = container.setdefault("resources", {}).setdefault("limits", {})
        if self.gpus_per_node > 0:
            limits["nvidia.com/gpu"] = str(self.gpus_per_node)  # a Kubernetes quantity
        else:
            limits.pop("nvidia.com/gpu", None)
        return manifest.get("metadata", {}), spec

    def resolved_namespace(self, metadata: dict[str, Any]) -> str:
        return self.namespace or metadata.get("namespace") or "default"


class StageLauncher(dg.ConfigurableResource):
    """Runs a stage's entry point (training, evaluation, annotation) as its own process through
    Dagster Pipes: its metrics and logs stream back, its checkpoints or parts let a rerun resume. ``backend`` picks a local subprocess or a
    Kubernetes pod; ``launcher`` plain Python, ``accelerate launch`` or ``torchrun``;
    ``launcher_args`` go before the module (e.g. ``["--config_file", "infra/accelerate/8gpu_zero2.yaml"]``
    or ``["--nproc_per_node", "8"]``); ``stage_launcher_args`` replace them for one entry point
    (e.g. ZeRO-3 for ``viss_r1.train.grpo`` while SFT keeps ZeRO-2)."""

    backend: Literal["local", "kubernetes"] = "local"
    launcher: Literal["python", "accelerate", "torchrun"] = "python"
    launcher_args: list[str] = []
    stage_launcher_args: dict[str, list[str]] = {}
    rendezvous: Rendezvous = Rendezvous()
    kubernetes: KubernetesLaunch = KubernetesLaunch()
    env: dict[str, str] = {}
    # How often a run looks for runs that died holding a pool slot, and says whom it waits for
    # (assets/run_liveness.py); 0: only when the run starts.
    pool_check_interval_s: float = 15.0
    _liveness: Optional[RunLiveness] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Runs when the run starts, before any step claims a pool slot (every pool step needs this resource).
        if context.instance is None or context.run_id is None:   # built outside a run (a test, a script)
            return
        self._liveness = RunLiveness(context.instance, context.run_id, Path(state_dir()), context.log.warning,
                                     self.pool_check_interval_s)
        self._liveness.start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._liveness is not None:
            self._liveness.stop()
            self._liveness = None

    def command(self, module: str, config_file: str, **node: Any) -> list[str]:
        """The command line; ``node`` (node_rank, host, run_id) overrides the rendezvous settings."""
        # In a pod the image's interpreter runs it, not the path of the one running Dagster.
        python = "python" if self.backend == "kubernetes" else sys.executable
        launcher_args = self.stage_launcher_args.get(module, self.launcher_args)
        multi_node = self.rendezvous.nodes_for(module) > 1
        if self.launcher == "python":
            if launcher_args or multi_node:
                raise ValueError("launcher_args and a multi-node rendezvous need launcher 'accelerate' or 'torchrun'")
            return [python, "-m", module, "--config", config_file]
        return [python, "-m", LAUNCH_MODULES[self.launcher], *launcher_args,
                *(self.rendezvous.arguments(self.launcher, **node) if multi_node else []),
                "-m", module, "--config", config_file]

    def dying_with_dagster(self, command: list[str]) -> list[str]:
        """The local command line, so that it ends if this Dagster process is killed: a stage run by
        python asks for that itself (viss_r1.process.die_with_launcher); accelerate's or torchrun's
        launcher is started through viss_r1.exec_with_launcher, which asks for it and execs the tool."""
        return command if self.launcher == "python" else [sys.executable, "-m", EXEC_WITH_LAUNCHER, *command]

    def run(self, context: dg.AssetExecutionContext, module: str, config_file: str) -> dict[str, Any]:
        """Run to completion; return the metadata the process reported."""
        if self.backend == "kubernetes":
            return self._run_pods(context, module, config_file)
        _require_pinned("dagster", DAGSTER_VERSION, "the local training launcher", DAGSTER_PRIVATE_API)
        from dagster._core.errors import DagsterPipesExecutionError  # not exported at top level

        command = self.command(module, config_file)
        context.log.debug(f"launching: {' '.join(command)}")   # a failure says it again, with how to rerun it
        client = dg.PipesSubprocessClient(env={**PROCESS_ENV, **self.env, **launcher_env()},
                                          message_reader=pipes_messages.WholeLineMessageReader())
        try:
            invocation = client.run(context=context, command=self.dying_with_dagster(command))
        except DagsterPipesExecutionError as error:
            raise dg.Failure(f"{module} failed ({error}); its output is in the step log above. "
                             f"Rerun it by hand with: {' '.join(command)} (training resumes from its last "
                             "checkpoint)") from None
        return _reported_metadata(invocation)

    # Kubernetes ---------------------------------------------------------------------------------

    def pod_env(self) -> dict[str, str]:
        forwarded = {name: os.environ[name] for name in self.kubernetes.forward_env if name in os.environ}
        return {**PROCESS_ENV, **forwarded, **self.env}

    def node_pods(self, module: str, config_file: str, launch: str) -> list[tuple[str, dict, dict, list[str]]]:
        """(name, metadata, spec, command) of every node of a launch. Node 0 is the Pipes pod; in a
        multi-node launch it gets a DNS name under the headless service, where the others rendezvous."""
        settings = self.kubernetes
        metadata, spec = settings.base_pod()
        count = self.rendezvous.nodes_for(module)
        if count == 1:
            return [(launch, metadata, spec, self.command(module, config_file))]
        namespace = settings.resolved_namespace(metadata)
        host = f"{launch}.{settings.nodes_service}.{namespace}.svc.cluster.local"
        head = {**spec, "hostname": launch, "subdomain": settings.nodes_service}
        nodes = [(launch, metadata, head, self.command(module, config_file, node_rank=0, host=host, run_id=launch))]
        nodes += [(f"{launch}-node{rank}", metadata, spec,
                   self.command(module, config_file, node_rank=rank, host=host, run_id=launch))
                  for rank in range(1, count)]
        return nodes

    def _run_pods(self, context: dg.AssetExecutionContext, module: str, config_file: str) -> dict[str, Any]:
        _require_pinned("dagster-k8s", DAGSTER_K8S_VERSION, "the Kubernetes training launcher",
                        DAGSTER_K8S_PRIVATE_API)
        import kubernetes
        from dagster_k8s import PipesK8sClient
        from dagster_k8s.pipes import build_pod_body

        settings = self.kubernetes
        launch = f"viss-r1-{context.run.run_id[:8]}-{secrets.token_hex(3)}"
        (_, metadata, head_spec, head_command), *workers = self.node_pods(module, config_file, launch)
        namespace = settings.resolved_namespace(metadata)
        client = PipesK8sClient(load_incluster_config=settings.load_incluster_config,
                                kubeconfig_file=settings.kubeconfig_file, poll_interval=settings.poll_interval_s)
        context.log.info(f"launching {1 + len(workers)} pod(s) in namespace {namespace}: {' '.join(head_command)}")
        core_api = None
        try:
            if workers:
                client._load_k8s_config()  # the client loads it only inside run(); workers start first
                core_api = kubernetes.client.CoreV1Api()
                for name, meta, spec, command in workers:
                    core_api.create_namespaced_pod(namespace, build_pod_body(
                        pod_name=name, image=settings.image, command=command, env_vars=self.pod_env(),
                        base_pod_meta=meta, base_pod_spec=spec))
            invocation = client.run(context=context, image=settings.image, command=head_command,
                                    namespace=namespace, env=self.pod_env(), base_pod_meta=metadata,
                                    base_pod_spec=head_spec)
        except Exception as error:  # pod failed, API refused, timed out: all end the stage the same way
            raise dg.Failure(f"{module} failed on Kubernetes ({type(error).__name__}: {error}); its log is in "
                             f"the step log above (kubectl -n {namespace} get pods -l viss-r1/training-node). "
                             f"Config file: {config_file}; a rerun resumes from the last checkpoint") from None
        finally:
            for name, *_ in workers if core_api is not None else []:
                try:
                    core_api.delete_namespaced_pod(name, namespace)
                except kubernetes.client.ApiException:  # never created, or already gone
                    pass
        return _reported_metadata(invocation)


def _require_pinned(distribution: str, version: str, user: str, private_api: tuple[str, ...]) -> None:
    try:
        require_version(distribution, version, user, private_api)
    except PinnedVersionError as error:
        raise dg.Failure(str(error)) from None   # the step's failure says it, not a traceback


def _reported_metadata(invocation) -> dict[str, Any]:
    return {k: v.value for k, v in invocation.get_materialize_result().metadata.items()}
