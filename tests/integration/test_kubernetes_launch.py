"""The stage launcher's Kubernetes backend and multi-node settings: the pods it renders (with
dagster-k8s's own pod builder) and a whole Pipes round trip against a stand-in Kubernetes API
that runs each pod's container command as a local process and serves its output as the pod log."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap

import dagster as dg
import pytest
from dagster_k8s.client import WaitForPodState
from dagster_k8s.pipes import build_pod_body
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR

from assets.launcher import (DAGSTER_K8S_PRIVATE_API, DAGSTER_K8S_VERSION, FORWARDED_ENV, PROCESS_ENV, REPO_ROOT,
                             KubernetesLaunch, StageLauncher)

GRPO = "viss_r1.train.grpo"


def test_multi_node_arguments_for_torchrun_and_accelerate():
    torchrun = StageLauncher(launcher="torchrun", launcher_args=["--nproc_per_node", "8"],
                             rendezvous={"nnodes": 2, "node_rank": 1, "host": "node0", "run_id": "job7"})
    assert torchrun.command(GRPO, "c.yaml")[1:] == [
        "-m", "torch.distributed.run", "--nproc_per_node", "8", "--nnodes", "2", "--node_rank", "1",
        "--rdzv_backend", "c10d", "--rdzv_endpoint", "node0:29400", "--rdzv_id", "job7", "-m", GRPO, "--config", "c.yaml"]
    accelerate = StageLauncher(launcher="accelerate", rendezvous={"nnodes": 4, "node_rank": 3, "host": "10.0.0.1",
                                                                  "port": 6000})
    assert accelerate.command(GRPO, "c.yaml")[3:11] == ["--num_machines", "4", "--machine_rank", "3",
                                                        "--main_process_ip", "10.0.0.1", "--main_process_port", "6000"]
    with pytest.raises(ValueError, match="needs node 0's address"):
        StageLauncher(launcher="torchrun", rendezvous={"nnodes": 2}).command(GRPO, "c.yaml")
    with pytest.raises(ValueError, match="need launcher 'accelerate' or 'torchrun'"):
        StageLauncher(rendezvous={"nnodes": 2, "host": "h"}).command(GRPO, "c.yaml")


def test_only_the_named_entry_points_span_the_nodes():
    launcher = StageLauncher(launcher="accelerate", rendezvous={"nnodes": 2, "host": "h", "modules": [GRPO]})
    assert "--num_machines" in launcher.command(GRPO, "c.yaml")
    assert "--num_machines" not in launcher.command("viss_r1.evaluate.run", "c.yaml")
    k8s = StageLauncher(backend="kubernetes", launcher="accelerate", rendezvous={"nnodes": 2, "modules": [GRPO]})
    assert len(k8s.node_pods(GRPO, "c.yaml", "l")) == 2 and len(k8s.node_pods("viss_r1.train.sft", "c.yaml", "l")) == 1


def rendered(launcher: StageLauncher, launch: str = "viss-r1-run1-abc"):
    """The pods a launch creates, built by dagster-k8s exactly as its Pipes client builds them."""
    return [build_pod_body(pod_name=name, image=launcher.kubernetes.image, command=command,
                           env_vars=launcher.pod_env(), base_pod_meta=meta, base_pod_spec=spec)
            for name, meta, spec, command in launcher.node_pods(GRPO, "/state/work/grpo.yaml", launch)]


def test_the_rendered_pod_has_the_command_gpu_limit_env_and_shared_state(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.viss-r1.svc:5000")
    monkeypatch.setenv("VISS_R1_ARTIFACT_ROOT", "s3://bucket/artifacts")
    launcher = StageLauncher(backend="kubernetes", launcher="accelerate",
                             launcher_args=["--config_file", "infra/accelerate/8gpu_zero2.yaml"],
                             kubernetes={"gpus_per_node": 8, "image": "registry/viss-r1:1.0"})
    (pod,) = rendered(launcher)
    container = pod.spec.containers[0]
    assert container.command == ["python", "-m", "accelerate.commands.launch", "--config_file",
                                 "infra/accelerate/8gpu_zero2.yaml", "-m", GRPO, "--config", "/state/work/grpo.yaml"]
    assert container.image == "registry/viss-r1:1.0" and container.working_dir == "/app"
    assert container.resources.limits["nvidia.com/gpu"] == "8"
    env = {e.name: e.value for e in container.env}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.viss-r1.svc:5000"
    assert env["VISS_R1_ARTIFACT_ROOT"] == "s3://bucket/artifacts" and env["TOKENIZERS_PARALLELISM"] == "false"
    assert {m.mount_path for m in container.volume_mounts} == {"/state", "/dev/shm"}
    (state,) = [v for v in pod.spec.volumes if v.name == "state"]
    assert state.persistent_volume_claim.claim_name == "viss-r1-state"
    assert pod.spec.restart_policy == "Never" and pod.metadata.namespace == "viss-r1"
    cpu_only = StageLauncher(backend="kubernetes", kubernetes={"gpus_per_node": 0})
    assert "nvidia.com/gpu" not in rendered(cpu_only)[0].spec.containers[0].resources.limits


def test_a_multi_node_launch_rendezvous_at_node_zero_under_the_headless_service():
    launcher = StageLauncher(backend="kubernetes", launcher="torchrun", launcher_args=["--nproc_per_node", "8"],
                             rendezvous={"nnodes": 3}, kubernetes={"gpus_per_node": 8})
    head, *workers = rendered(launcher, "viss-r1-run1-abc")
    assert (head.spec.hostname, head.spec.subdomain) == ("viss-r1-run1-abc", "viss-r1-nodes")
    assert [w.metadata.name for w in workers] == ["viss-r1-run1-abc-node1", "viss-r1-run1-abc-node2"]
    for rank, pod in enumerate([head, *workers]):
        command = pod.spec.containers[0].command
        assert command[command.index("--node_rank") + 1] == str(rank)
        assert command[command.index("--rdzv_endpoint") + 1] == "viss-r1-run1-abc.viss-r1-nodes.viss-r1.svc.cluster.local:29400"
        assert command[command.index("--rdzv_id") + 1] == "viss-r1-run1-abc"   # one rendezvous per launch
        assert pod.metadata.labels["viss-r1/training-node"] == "true"           # the service selects it
    assert all(w.spec.hostname is None for w in workers)


def assert_has_no_credentials(pod, launcher: StageLauncher, password: str) -> None:
    """A stage pod holds no Kubernetes API token and nothing of the database: it runs as the service
    account without a Role (infra/k8s/rbac.yaml), takes nothing from a Secret, and its environment
    is the forwarded names, the launcher's own and Pipes' bootstrap only, never the password the
    Dagster process has."""
    assert pod.spec.service_account_name == "viss-r1-stage"
    assert pod.spec.automount_service_account_token is False
    (container,) = pod.spec.containers
    assert [(source.config_map_ref.name, source.secret_ref) for source in container.env_from] == [("viss-r1-env", None)]
    assert [e.name for e in container.env if e.value_from is not None] == []
    assert {e.name for e in container.env} <= {*PROCESS_ENV, *FORWARDED_ENV, *launcher.env,
                                               DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR}
    assert password not in {e.value for e in container.env}
    assert container.security_context.allow_privilege_escalation is False


def test_every_node_of_a_launch_runs_without_api_token_or_database_secret(monkeypatch):
    # What a run pod has in its environment (K8sRunLauncher's env_secrets): it must not travel on.
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pg-password")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.viss-r1.svc:5000")
    launcher = StageLauncher(backend="kubernetes", launcher="torchrun", launcher_args=["--nproc_per_node", "8"],
                             rendezvous={"nnodes": 3}, kubernetes={"gpus_per_node": 8})
    pods = rendered(launcher)
    assert len(pods) == 3   # node 0 (the Pipes pod) and the two workers the launcher creates itself
    for pod in pods:
        assert_has_no_credentials(pod, launcher, "pg-password")


def test_the_pod_file_must_be_a_pod(tmp_path):
    bad = tmp_path / "deployment.yaml"
    bad.write_text("kind: Deployment\nspec: {}\n")
    with pytest.raises(ValueError, match="expected a Pod manifest"):
        KubernetesLaunch(pod_spec_file=str(bad)).base_pod()


class LocalCluster:
    """Stands in for the Kubernetes API (both dagster-k8s's client and kubernetes' CoreV1Api): a
    created pod's first container runs here as a process, and its log is that process's output
    with the timestamps the kubelet adds."""

    def __init__(self):
        self.pods: dict[str, tuple[object, subprocess.Popen]] = {}
        self.deleted: list[str] = []
        self.core_api = self

    def create_namespaced_pod(self, namespace, body):
        container = body.spec.containers[0]
        command = [sys.executable if container.command[0] == "python" else container.command[0], *container.command[1:]]
        env = {"PATH": "/usr/bin:/bin", **{e.name: e.value for e in container.env}}
        self.pods[body.metadata.name] = (body, subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))

    def read_namespaced_pod_log(self, name, namespace, **_):
        for line in self.pods[name][1].stdout:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            yield f"{stamp} ".encode() + line

    def wait_for_pod(self, name, namespace, wait_for_state=WaitForPodState.Ready, **_):
        if wait_for_state == WaitForPodState.Terminated and self.pods[name][1].wait() != 0:
            raise RuntimeError(f"pod {name}: container exited with {self.pods[name][1].returncode}")

    def delete_namespaced_pod(self, name, namespace):
        self.deleted.append(name)


STAGE = textwrap.dedent("""
    # A stage entry point in miniature: reads its config, reports through Pipes like viss_r1.train.*
    import argparse, os, sys
    from dagster_pipes import open_dagster_pipes
    args = argparse.ArgumentParser(); args.add_argument("--config"); config = args.parse_args().config
    with open_dagster_pipes() as pipes:
        pipes.log.info("stage started")
        if open(config).read().strip() == "fail":
            sys.exit(3)
        pipes.report_asset_materialization(metadata={"config": config, "mlflow": os.environ["MLFLOW_TRACKING_URI"]})
""")


@pytest.fixture
def local_cluster(monkeypatch, tmp_path) -> LocalCluster:
    import dagster_k8s.pipes

    cluster = LocalCluster()
    monkeypatch.setattr(dagster_k8s.pipes.DagsterKubernetesClient, "production_client", staticmethod(lambda: cluster))
    monkeypatch.setattr(dagster_k8s.pipes.PipesK8sClient, "_load_k8s_config", lambda self: None)
    (tmp_path / "pipes_stage.py").write_text(STAGE)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.test:5000")
    return cluster


def launch_in(cluster_launcher: StageLauncher, config_text: str, tmp_path):
    config = tmp_path / "stage.yaml"
    config.write_text(config_text)
    seen = {}

    @dg.asset
    def trains(stage_launcher: StageLauncher) -> dg.MaterializeResult:
        seen.update(stage_launcher.run(dg.AssetExecutionContext.get(), "pipes_stage", str(config)))
        return dg.MaterializeResult()

    with dg.instance_for_test() as instance:
        result = dg.materialize([trains], resources={"stage_launcher": cluster_launcher}, instance=instance,
                                raise_on_error=False)
    return result, seen, config


def test_a_pod_reports_back_through_pipes(local_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "pg-password")   # the run pod's, never the stage's
    launcher = StageLauncher(backend="kubernetes", env={"PYTHONPATH": str(tmp_path)})
    result, seen, config = launch_in(launcher, "ok", tmp_path)
    assert result.success
    assert seen == {"config": str(config), "mlflow": "http://mlflow.test:5000"}  # forwarded into the pod
    (pod, _), = local_cluster.pods.values()
    # Pipes worked with the pod holding no API token: its messages came back through its log,
    # which the Dagster side reads.
    assert_has_no_credentials(pod, launcher, "pg-password")
    assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert local_cluster.deleted == [pod.metadata.name]                          # cleaned up after


def test_a_failing_pod_is_a_failure_that_names_the_config(local_cluster, tmp_path):
    launcher = StageLauncher(backend="kubernetes", env={"PYTHONPATH": str(tmp_path)})
    result, _, config = launch_in(launcher, "fail", tmp_path)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "pipes_stage failed on Kubernetes" in message and "exited with 3" in message and str(config) in message


def test_another_dagster_k8s_stops_the_launch_naming_the_private_api_it_follows(local_cluster, tmp_path, monkeypatch):
    import viss_r1.pinned_versions

    installed = viss_r1.pinned_versions.installed_version
    monkeypatch.setattr(viss_r1.pinned_versions, "installed_version",
                        lambda distribution: "0.30.0" if distribution == "dagster-k8s" else installed(distribution))
    launcher = StageLauncher(backend="kubernetes", env={"PYTHONPATH": str(tmp_path)})
    result, _, _ = launch_in(launcher, "ok", tmp_path)
    assert not result.success and not local_cluster.pods          # stopped before any pod was created
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert all(name in message for name in DAGSTER_K8S_PRIVATE_API)
    assert f"dagster-k8s=={DAGSTER_K8S_VERSION}" in message and "dagster-k8s 0.30.0 is installed" in message

