"""The files for running past one machine (infra/dagster-postgres.yaml, infra/k8s/, Dockerfile) are
accepted by the code that reads them, on a CPU machine without a cluster: Dagster's instance loader
and each configured class's own schema, the Kubernetes client models (unknown fields rejected),
dagster-k8s building the run pod, MLflow's and Dagster's command-line parsers. Names one file gives
and another uses (volume claim, service account, config map, secret, namespace, port) agree."""

from __future__ import annotations

import importlib
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes.client
import pytest
import yaml
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
K8S_INSTANCE = K8S / "dagster.yaml"
HELM_VALUES = K8S / "helm-values.yaml"
INSTANCE_FILES = (INFRA / "dagster-postgres.yaml", K8S_INSTANCE)
# Every other file in infra/k8s is Kubernetes manifests (training-pod.yaml and its peers included).
MANIFEST_FILES = sorted(p for p in K8S.glob("*.yaml") if p not in (K8S_INSTANCE, HELM_VALUES))
PG_ENV = {"DAGSTER_PG_HOST": "pg.example", "DAGSTER_PG_PORT": "6543", "DAGSTER_PG_USERNAME": "viss",
          "DAGSTER_PG_PASSWORD": "s3cret", "DAGSTER_PG_DB": "dagster_db"}
# Which kind of object a key names, wherever it appears in a manifest, the instance or the values.
REFERENCE_KEYS = {"claimName": "PersistentVolumeClaim", "serviceAccountName": "ServiceAccount",
                  "service_account_name": "ServiceAccount", "configMapRef": "ConfigMap", "secretRef": "Secret",
                  "env_config_maps": "ConfigMap", "env_secrets": "Secret", "envConfigMaps": "ConfigMap",
                  "envSecrets": "Secret", "postgresqlSecretName": "Secret"}
API_VERSIONS = {"CoreV1Api": "v1", "AppsV1Api": "apps/v1", "BatchV1Api": "batch/v1",
                "RbacAuthorizationV1Api": "rbac.authorization.k8s.io/v1", "NetworkingV1Api": "networking.k8s.io/v1"}


def read(path: Path):
    return yaml.safe_load(path.read_text())


def documents(path: Path) -> list[dict]:
    """A manifest file's objects; a `kind: List` (one YAML document, as every infra/ file is) unpacked."""
    doc = read(path)
    return doc["items"] if doc["kind"] == "List" else [doc]


def manifests() -> dict[tuple[str, str], dict]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for path in MANIFEST_FILES for doc in documents(path)}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def k8s_model(kind: str, body: dict):
    """The kubernetes client model of ``kind`` (V1Pod, V1Role…), built the way dagster-k8s builds
    its own: an unknown or misspelt field raises."""
    model = getattr(kubernetes.client, f"V1{kind}")
    return k8s_model_from_dict(model, k8s_snake_case_dict(model, body))


def api_version(kind: str) -> str:
    """The apiVersion of a namespaced kind: that of the client API that creates it."""
    return next(version for api, version in API_VERSIONS.items()
                if hasattr(getattr(kubernetes.client, api), f"create_namespaced_{snake(kind)}"))


def launcher_config() -> dict:
    """The K8s instance's run launcher config: where the names every other file must use come from."""
    return read(K8S_INSTANCE)["run_launcher"]["config"]


def namespace() -> str:
    return launcher_config()["job_namespace"]


def env_config() -> dict[str, str]:
    return manifests()[("ConfigMap", launcher_config()["env_config_maps"][0])]["data"]


def state_claim() -> str:
    (volume,) = launcher_config()["volumes"]
    return volume["persistentVolumeClaim"]["claimName"]


def secret_keys() -> dict[str, set[str]]:
    """The Secret env.yaml's comment says to create (kept out of the file so that applying it never
    overwrites the password): name → keys."""
    text = re.sub(r"\s*\\\n#\s*", " ", (K8S / "env.yaml").read_text())   # join the continued lines
    ns, name, args = re.search(r"kubectl -n (\S+) create secret generic (\S+)((?: --from-literal=\S+)+)", text).groups()
    assert ns == namespace()
    return {name: set(re.findall(r"--from-literal=([^=]+)=", args))}


def references(node):
    """(kind, name) of every object a YAML tree refers to by name."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in REFERENCE_KEYS:
                for item in value if isinstance(value, list) else [value]:
                    yield REFERENCE_KEYS[key], item["name"] if isinstance(item, dict) else item
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def configured_classes(path: Path) -> dict[str, tuple[type, dict]]:
    """Each class an instance file configures, with its config processed by the class's own schema
    (environment variables resolved): what Dagster does building the instance, short of connecting."""
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.instance.ref import InstanceRef

    ref = InstanceRef.from_dir(str(path.parent), config_filename=path.name)   # instance schema + cross-field checks
    found = {}
    for role in ("storage", "run_coordinator", "run_launcher", "compute_logs", "local_artifact_storage", "scheduler"):
        data = getattr(ref, f"{role}_data")
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        assert result.success, (path.name, role, [error.message for error in result.errors])
        found[role] = (klass, result.value)
    return found


def run_pod(launcher_config: dict, monkeypatch, code_location: dict | None = None):
    """(namespace, pod spec) of the Job K8sRunLauncher creates for a run, built by dagster-k8s;
    ``code_location`` is the container context a code server adds to its runs."""
    import dagster_k8s.launcher
    from dagster import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job

    monkeypatch.setattr(dagster_k8s.launcher, "load_kubernetes_config", lambda **_: None)   # no cluster here
    launcher = K8sRunLauncher.from_config_value(None, launcher_config)
    context = K8sContainerContext.create_for_run(DagsterRun(job_name="full_viss_r1", run_id="r1"), launcher,
                                                 include_run_tags=False)
    if code_location:
        context = context.merge(K8sContainerContext.create_from_config(code_location))
    job = construct_dagster_k8s_job(context.get_k8s_job_config("viss-r1:test", launcher), args=["dagster"],
                                    job_name="dagster-run-r1", user_defined_k8s_config=context.run_k8s_config)
    return context.namespace, job.spec.template.spec


def assert_run_pod_gets_the_cluster_setup(pod_namespace: str, spec) -> None:
    """The run pod runs in our namespace as our service account, with the environment of env.yaml
    and the state volume at VISS_R1_STATE_DIR, and asks for resources."""
    objects = manifests()
    assert pod_namespace == namespace() and ("ServiceAccount", spec.service_account_name) in objects
    assert len({v.name for v in spec.volumes}) == len(spec.volumes), [v.name for v in spec.volumes]
    (container,) = spec.containers
    assert len({m.mount_path for m in container.volume_mounts}) == len(container.volume_mounts)
    claims = {v.name: v.persistent_volume_claim.claim_name for v in spec.volumes if v.persistent_volume_claim}
    mounted = {m.mount_path: claims.get(m.name) for m in container.volume_mounts}
    assert mounted.get(env_config()["VISS_R1_STATE_DIR"]) == state_claim(), mounted
    config_maps = [e.config_map_ref.name for e in container.env_from if e.config_map_ref]
    assert config_maps == launcher_config()["env_config_maps"]
    assert {e.secret_ref.name for e in container.env_from if e.secret_ref} == set(secret_keys())
    assert {"cpu", "memory"} <= set(container.resources.requests)


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_instance_file_is_accepted_by_dagster_with_postgres_from_the_environment(path, monkeypatch):
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config

    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    storage, config = configured_classes(path)["storage"]
    assert storage is DagsterPostgresStorage
    # Every connection field comes from the environment.
    assert pg_url_from_config(config) == "postgresql://viss:s3cret@pg.example:6543/dagster_db"
    header = "".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    assert all(name in header for name in PG_ENV), "the header names every variable the file reads"
    instance, local = read(path), read(INFRA / "dagster.yaml")
    assert instance["telemetry"] == local["telemetry"]
    assert instance["concurrency"]["pools"] == local["concurrency"]["pools"]


def test_k8s_instance_queues_runs_and_launches_them_as_jobs_with_the_cluster_setup(monkeypatch):
    from dagster import QueuedRunCoordinator
    from dagster_k8s import K8sRunLauncher

    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    classes = configured_classes(K8S_INSTANCE)
    assert classes["run_coordinator"][0] is QueuedRunCoordinator
    assert read(K8S_INSTANCE)["concurrency"]["runs"]["max_concurrent_runs"] > 0
    launcher, config = classes["run_launcher"]
    assert launcher is K8sRunLauncher
    # The ConfigMap the launcher names is the one the file's header says to create from it.
    assert f"create configmap {config['instance_config_map']} --from-file=dagster.yaml=infra/k8s/dagster.yaml" \
        in K8S_INSTANCE.read_text()
    assert_run_pod_gets_the_cluster_setup(*run_pod(config, monkeypatch))


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: p.name)
def test_manifests_are_valid_kubernetes_objects_in_our_namespace(path):
    for doc in documents(path):
        model = k8s_model(doc["kind"], doc)
        assert doc["apiVersion"] == api_version(doc["kind"]), (path.name, doc["kind"])
        assert model.metadata.namespace == namespace(), (path.name, doc["kind"], model.metadata.name)


def test_every_name_a_file_refers_to_is_defined_in_infra_k8s():
    defined = set(manifests()) | {("Secret", name) for name in secret_keys()}
    kinds = set()
    for path in [*MANIFEST_FILES, K8S_INSTANCE, HELM_VALUES]:
        found = set(references(read(path)))
        assert found <= defined, f"{path.name} refers to {sorted(found - defined)}, defined nowhere in infra/k8s"
        kinds |= {kind for kind, _ in found}
    assert kinds == set(REFERENCE_KEYS.values())   # the check saw every kind of reference
    for doc in (d for p in MANIFEST_FILES for d in documents(p) if d["kind"] in ("Pod", "Deployment")):
        pod = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
        for container in pod["containers"]:   # `$(VAR)` is filled from the container's environment
            available = {key for source in container.get("envFrom", []) for key in
                         (env_config() if "configMapRef" in source else secret_keys()[source["secretRef"]["name"]])}
            used = set(re.findall(r"\$\((\w+)\)", json.dumps([container.get("command"), container.get("args")])))
            assert used <= available, (doc["metadata"]["name"], used - available)


def test_role_of_our_service_account_allows_every_kubernetes_call_of_dagster_k8s_and_our_launcher():
    import dagster_k8s

    account = launcher_config()["service_account_name"]
    (binding,) = [doc for (kind, _), doc in manifests().items() if kind == "RoleBinding"
                  and ("ServiceAccount", account) in {(s["kind"], s["name"]) for s in doc["subjects"]}]
    role = manifests()[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
    grants = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
              for resource in rule["resources"] for verb in rule["verbs"]}
    assert {("", "pods", "create"), ("", "pods", "delete"), ("", "pods/log", "get")} <= grants   # Pipes
    sources = [*Path(dagster_k8s.__file__).parent.glob("*.py"), ROOT / "assets" / "launcher.py"]
    calls = {call for source in sources for call in
             re.findall(r"(?:core|batch)_api\.(create|read|list|delete|patch)_namespaced_(\w+)\(", source.read_text())}
    assert ("create", "pod") in calls and ("create", "job") in calls, calls
    needed_resources = set()
    for verb, name in calls:   # read_namespaced_pod_log → get pods/log
        kind, _, sub = name.partition("_")
        resource = f"{kind}s/{sub}" if sub else f"{kind}s"
        needed = ("batch" if kind == "job" else "", resource, {"read": "get"}.get(verb, verb))
        assert needed in grants, f"{verb}_namespaced_{name} needs {needed} in the Role (rbac.yaml)"
        needed_resources.add(needed[:2])
    # Least privilege: no resource that no call touches (watch comes with the list calls).
    assert {(group, resource) for group, resource, _ in grants} == needed_resources


def stage_pod_spec() -> dict:
    """The spec of every training and evaluation pod: the stage launcher's pod file."""
    from assets.launcher import KubernetesLaunch

    return KubernetesLaunch().base_pod()[1]


def database_secrets() -> set[str]:
    """The Secrets that hold Dagster's database password: the one env.yaml says to create, and the
    one the Helm chart reads the password from."""
    from dagster_k8s.job import DAGSTER_PG_PASSWORD_ENV_VAR

    return ({name for name, keys in secret_keys().items() if DAGSTER_PG_PASSWORD_ENV_VAR in keys}
            | {read(HELM_VALUES)["global"]["postgresqlSecretName"]})


def secrets_used(node) -> set[str]:
    """Every Secret a pod spec takes anything from: envFrom, env valueFrom, a volume, a projection."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretRef", "secretKeyRef", "secret") and isinstance(value, dict):
                found.add(value.get("name") or value.get("secretName"))
            found |= secrets_used(value)
    elif isinstance(node, list):
        for item in node:
            found |= secrets_used(item)
    return found


def binds(subject: dict, account: str) -> bool:
    """Whether a RoleBinding/ClusterRoleBinding subject covers ``account``, which a binding to all of
    the namespace's (or the cluster's) service accounts does too."""
    if subject["kind"] == "ServiceAccount":
        return subject["name"] == account and subject.get("namespace", namespace()) == namespace()
    return subject["kind"] == "Group" and subject["name"] in (
        "system:serviceaccounts", f"system:serviceaccounts:{namespace()}", "system:authenticated")


def test_stage_pods_run_as_an_account_with_no_api_access_and_no_token():
    # A stage runs third-party model code on downloaded data: if it is compromised it must find no
    # Kubernetes credential. Pipes needs none in the pod, since the run pod reads its log.
    spec = stage_pod_spec()
    account = spec["serviceAccountName"]
    assert account != launcher_config()["service_account_name"]   # not Dagster's, which may create pods
    assert spec["automountServiceAccountToken"] is False
    objects = manifests()
    assert objects[("ServiceAccount", account)]["automountServiceAccountToken"] is False
    bindings = {name: doc for (kind, name), doc in objects.items() if kind in ("RoleBinding", "ClusterRoleBinding")}
    assert bindings, "the check saw the bindings (rbac.yaml)"
    assert [name for name, doc in bindings.items() if any(binds(s, account) for s in doc["subjects"])] == []


def test_stage_pods_get_no_database_secret_and_cannot_escalate():
    spec = stage_pod_spec()
    mlflow = manifests()[("Deployment", urlsplit(env_config()["MLFLOW_TRACKING_URI"]).hostname.split(".")[0])]
    # The walk finds the database Secret where it belongs (the MLflow server's backend URI).
    assert secrets_used(mlflow["spec"]["template"]["spec"]) == database_secrets()
    assert secrets_used(spec) & database_secrets() == set()
    (container,) = spec["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}
    config_maps = [source["configMapRef"]["name"] for source in container["envFrom"]]
    assert config_maps == launcher_config()["env_config_maps"]   # MLFLOW_TRACKING_URI, VISS_R1_STATE_DIR


def vllm_serve_commands() -> list[tuple[str, dict[str, str], list[str]]]:
    """(file, environment, arguments after `vllm serve`) of every `vllm serve` command the README
    and infra/ document, in code blocks or config comments."""
    found = []
    for path in [ROOT / "README.md", *sorted(p for p in INFRA.rglob("*") if p.is_file())]:
        for line in path.read_text().splitlines():
            for command in re.findall(r"(?:[A-Z][A-Z0-9_]*=\S*\s+)*vllm serve\b[^`\n]*", line):
                words = shlex.split(command)
                serve = words.index("vllm")
                env = dict(word.split("=", 1) for word in words[:serve])
                found.append((path.relative_to(ROOT).as_posix(), env, words[serve + 2:]))
    return found


def test_documented_vllm_servers_listen_on_loopback():
    # Without --host vLLM listens on every interface; in dev mode (VLLM_SERVER_DEV_MODE=1) its
    # /collective_rpc endpoint, which reloads weights from any path, has no authentication at all.
    commands = vllm_serve_commands()
    assert "README.md" in {path for path, env, _ in commands if env.get("VLLM_SERVER_DEV_MODE") == "1"}
    for path, env, args in commands:
        host = args[args.index("--host") + 1] if "--host" in args else None
        assert host == "127.0.0.1", (path, env, args)


def test_mlflow_server_admits_only_pods_of_our_namespace():
    # MLflow runs without authentication: anyone who reaches it may rewrite runs and models.
    objects = manifests()
    name = urlsplit(env_config()["MLFLOW_TRACKING_URI"]).hostname.split(".")[0]
    deployment, service = objects[("Deployment", name)], objects[("Service", name)]
    assert service["spec"]["type"] == "ClusterIP"   # no LoadBalancer or NodePort outside the cluster
    (policy,) = [doc for (kind, _), doc in objects.items() if kind == "NetworkPolicy"]
    model = k8s_model("NetworkPolicy", policy)
    assert model.metadata.namespace == namespace()
    # Selects the server's pods by the labels the Deployment selects them by.
    assert model.spec.pod_selector.match_labels == deployment["spec"]["selector"]["matchLabels"]
    assert model.spec.pod_selector.match_expressions is None
    assert model.spec.policy_types == ["Ingress"]
    (rule,) = model.spec.ingress
    # An empty podSelector with no namespaceSelector or ipBlock: every pod of the policy's own
    # namespace, and nothing from any other namespace or outside the cluster.
    (peer,) = rule._from
    assert (peer.namespace_selector, peer.ip_block) == (None, None)
    assert (peer.pod_selector.match_labels, peer.pod_selector.match_expressions) == (None, None)
    (port,) = service["spec"]["ports"]
    assert [(p.protocol, p.port) for p in rule.ports] == [("TCP", port["targetPort"])]


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")   # MLflow's own import
def test_mlflow_server_command_parses_and_answers_on_the_tracking_uri():
    from mlflow.cli import server
    from mlflow.server.security_utils import is_allowed_host_header

    objects = manifests()
    tracking = urlsplit(env_config()["MLFLOW_TRACKING_URI"])
    service_name, service_namespace = tracking.hostname.split(".")[:2]
    service, deployment = objects[("Service", service_name)], objects[("Deployment", service_name)]
    assert service_namespace == service["metadata"]["namespace"]
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == tracking.port]
    (container_port,) = [p["containerPort"] for p in container["ports"] if p["name"] == port["targetPort"]]

    command = [re.sub(r"\$\((\w+)\)", "x", arg) for arg in container["command"]]
    assert command[:2] == ["mlflow", "server"]
    params = server.make_context("server", command[2:]).params   # unknown options raise
    assert params["port"] == container_port
    assert is_allowed_host_header(params["allowed_hosts"].split(","), tracking.netloc)
    assert urlsplit(params["backend_store_uri"]).scheme == "postgresql" and params["serve_artifacts"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert any(params["artifacts_destination"].startswith(mount + "/") for mount in mounts)


def chart_code_location(values: dict) -> tuple[dict, dict]:
    """The single user deployment, and the container context the chart gives its runs
    (dagster-user-deployments' k8sContainerContext helper, includeConfigInLaunchedRuns)."""
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment, {"k8s": {
        "image_pull_policy": deployment["image"]["pullPolicy"], "namespace": namespace(),
        "env_config_maps": [c["name"] for c in deployment["envConfigMaps"]],
        "env_secrets": [s["name"] for s in deployment["envSecrets"]],
        "volume_mounts": deployment["volumeMounts"], "volumes": deployment["volumes"],
        "service_account_name": values["global"]["serviceAccountName"]}}


def chart_run_launcher_config(values: dict) -> dict:
    """K8sRunLauncher's config as the chart writes it from our values (instance/_run-launcher.tpl)."""
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    return {"load_incluster_config": k8s["loadInclusterConfig"], "job_namespace": k8s["jobNamespace"],
            "image_pull_policy": k8s["imagePullPolicy"], "instance_config_map": "viss-r1-instance",
            "service_account_name": values["global"]["serviceAccountName"],
            "postgres_password_secret": values["global"]["postgresqlSecretName"],
            "env_config_maps": [c["name"] for c in k8s["envConfigMaps"]],
            "env_secrets": [s["name"] for s in k8s["envSecrets"]],
            "volumes": k8s["volumes"], "volume_mounts": k8s["volumeMounts"],
            "run_k8s_config": {snake(key): value for key, value in k8s["runK8sConfig"].items()}}


def test_helm_values_serve_pipelines_and_launch_runs_with_the_cluster_setup(monkeypatch):
    from dagster._cli.api import grpc_command
    from dagster._config import process_config, resolve_to_config_type
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.job import DAGSTER_PG_PASSWORD_ENV_VAR, DAGSTER_PG_PASSWORD_SECRET_KEY

    values = read(HELM_VALUES)
    deployment, code_location = chart_code_location(values)
    # The chart runs `dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>`.
    grpc = grpc_command.make_context(
        "grpc", ["-h", "0.0.0.0", "-p", str(deployment["port"]), *deployment["dagsterApiGrpcArgs"]])
    assert grpc.params["module_name"] == read(ROOT / "workspace.yaml")["load_from"][0]["python_module"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    result = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), chart_run_launcher_config(values))
    assert result.success, [error.message for error in result.errors]
    for location in (None, code_location):   # the launcher alone, and with what the code server adds
        pod_namespace, spec = run_pod(result.value, monkeypatch, location)
        assert_run_pod_gets_the_cluster_setup(pod_namespace, spec)
    (password,) = [e for e in spec.containers[0].env if e.name == DAGSTER_PG_PASSWORD_ENV_VAR]
    ref = password.value_from.secret_key_ref
    assert ref.key == DAGSTER_PG_PASSWORD_SECRET_KEY and ref.key in secret_keys()[ref.name]
    assert not values["generatePostgresqlPasswordSecret"]

    postgres, env = values["postgresql"], env_config()   # the external server, the one env.yaml names
    assert not postgres["enabled"]
    assert (postgres["postgresqlHost"], str(postgres["service"]["port"]), postgres["postgresqlUsername"],
            postgres["postgresqlDatabase"]) == tuple(env[f"DAGSTER_PG_{k}"] for k in ("HOST", "PORT", "USERNAME", "DB"))


def test_helm_run_queue_renders_an_instance_dagster_accepts(tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    values = read(HELM_VALUES)
    daemon, concurrency = values["dagsterDaemon"], values["concurrency"]
    assert daemon["enabled"] and daemon["runCoordinator"]["enabled"] and concurrency["enabled"]
    # Any value here makes the chart write a run_coordinator config (older charts add
    # max_concurrent_runs: -1 with it), which Dagster refuses next to `concurrency`.
    assert not any(daemon["runCoordinator"]["config"]["queuedRunCoordinator"].values())
    rendered = {"run_coordinator": {"module": "dagster", "class": daemon["runCoordinator"]["type"]},
                "concurrency": {group: {snake(key): value for key, value in concurrency[group].items()}
                                for group in ("pools", "runs")}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    dagster_instance_config(str(tmp_path))   # raises on an unknown key or a conflicting limit
    assert rendered["concurrency"] == read(K8S_INSTANCE)["concurrency"]   # the same limits with or without Helm


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile instruction, continued lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instruction(name: str) -> list[str]:
    return [args for instr, args in dockerfile() if instr == name]


def test_dockerfile_base_has_the_cuda_deepspeed_builds_against():
    import torch
    from deepspeed.ops.op_builder.builder import cuda_minor_mismatch_ok

    (base,) = instruction("FROM")
    major, minor = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-(?:cudnn-)?devel-ubuntu[\d.]+", base).groups()
    image_cuda, torch_cuda = f"{major}.{minor}", ".".join(str(torch.version.cuda).split(".")[:2])
    # DeepSpeed's JIT op build refuses an nvcc whose version differs from torch's (builder.py).
    compatible = set(cuda_minor_mismatch_ok.get(int(major), []))
    assert image_cuda == torch_cuda or {image_cuda, torch_cuda} <= compatible, (image_cuda, torch.version.cuda)


def test_dockerfile_installs_the_pinned_stack_and_serves_pipelines():
    from dagster._cli.api import grpc_command

    runs = instruction("RUN")
    # The packages CI tests, file for file (tests/unit/test_lock_file.py checks the lock itself),
    # and nothing beside them.
    (deps,) = [run for run in runs if "-r requirements.lock" in run]
    assert "DS_BUILD_OPS=0" in deps and "--require-hashes" in deps.split()
    assert not [word for word in deps.split() if "==" in word], "a package outside the lock"
    assert "requirements.lock ./" in instruction("COPY")
    assert any(re.search(r"pip install .*(?:-e )?\.$", run) for run in runs), "the project itself is installed"
    assert "COPY . ." in [f"COPY {args}" for args in instruction("COPY")]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(instruction("ENV"))))
    module = read(ROOT / "workspace.yaml")["load_from"][0]["python_module"]
    assert env["DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME"] == module
    assert env["VISS_R1_STATE_DIR"] == env_config()["VISS_R1_STATE_DIR"]
    assert not instruction("ENTRYPOINT")   # the chart and the run launcher give the whole command as args
    (cmd,) = instruction("CMD")
    command = json.loads(cmd)
    assert command[:3] == ["dagster", "api", "grpc"]
    params = grpc_command.make_context("grpc", command[3:]).params
    (deployment,) = read(HELM_VALUES)["dagster-user-deployments"]["deployments"]
    assert params["module_name"] == module and params["port"] == deployment["port"]
    assert str(params["port"]) in " ".join(instruction("EXPOSE")).split()
    (workdir,) = instruction("WORKDIR")
    working_dirs = {c["workingDir"] for p in MANIFEST_FILES for d in documents(p) if d["kind"] == "Pod"
                    for c in d["spec"]["containers"] if "workingDir" in c}
    assert working_dirs <= {workdir}, "pods read infra/ relative to the image's WORKDIR"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins, and a path under an excluded folder is excluded."""
    excluded = False
    for pattern in patterns:
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_repository_out_of_local_state():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".venv/bin/python", "state/artifacts/a/manifest.json", "mlruns/0/meta.yaml", "test-artifacts/a.png",
                 "viss_r1/__pycache__/x.pyc", ".git/HEAD", "viss_r1.egg-info/PKG-INFO", "state/mlflow.db"):
        assert dockerignored(path, patterns), path
    for path in ("pyproject.toml", "README.md", "workspace.yaml", "pipelines/__init__.py", "viss_r1/__init__.py",
                 "infra/k8s/dagster.yaml", "infra/accelerate/8gpu_zero2.yaml", "infra/deepspeed/zero2.json"):
        assert not dockerignored(path, patterns), path   # the install and the run configs need them
