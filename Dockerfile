# syntax=docker/dockerfile:1
# The project image. One image runs every part of the pipeline on a cluster: the Dagster code
# server (the default command), the run pods K8sRunLauncher starts from it, the training and
# evaluation pods (infra/k8s/training-pod.yaml) and the MLflow server (infra/k8s/mlflow.yaml).
#
#   docker build -t viss-r1:$(git rev-parse --short HEAD) .
#
# A CUDA *devel* base: DeepSpeed compiles its fused ops just in time on the GPU it runs on, which
# needs nvcc, and nvcc's major.minor must be the CUDA torch was built with (torch 2.14.1 from PyPI:
# 13.0) or DeepSpeed refuses to build them. cuDNN and the CUDA runtime come with torch's wheels.
FROM nvidia/cuda:13.0.0-devel-ubuntu24.04

# g++ is the host compiler nvcc and torch's extension builder call.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A pinned uv: the interpreter and every package below come from it, the same on every build.
COPY --from=ghcr.io/astral-sh/uv:0.9.30 /uv /usr/local/bin/uv

# The interpreter lives outside /root so that any uid can run it; bytecode is compiled once here
# rather than in every pod; copies, not hard links, out of the build cache mount.
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN uv python install 3.11 && uv venv --python 3.11 /opt/venv

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall torch: every package
# of requirements.lock, the same versions and files (hash-checked) that `make setup` and CI install,
# for this image's platform (CPython 3.11, Linux x86-64). The lock covers every extra of
# pyproject.toml (the test tools too), so it carries what a cluster needs: the Kubernetes launcher,
# PostgreSQL storage and its driver, s3fs and gcsfs for an s3:// or gs:// artifact root, NVML for
# MLflow's GPU system metrics. DS_BUILD_OPS=0: no GPU at build time, so DeepSpeed builds no ops
# now and JIT-builds them on first use.
COPY requirements.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    DS_BUILD_OPS=0 uv pip install --require-hashes -r requirements.lock

# The repository, infra/ included: run configs and the accelerate/DeepSpeed files are read from it
# by relative path. Editable, so the packages stay in /app: assets/launcher.py finds
# infra/k8s/training-pod.yaml next to its own folder, which site-packages would not have.
COPY . .
RUN uv pip install --no-deps -e .

# Writable whatever uid the cluster runs a pod as: DAGSTER_HOME of the run pods (K8sRunLauncher's
# default), the mount point of the state volume, and a HOME for caches (torch extensions, Triton).
RUN mkdir -p /opt/dagster/dagster_home /state /home/viss-r1 \
 && chmod 1777 /opt/dagster/dagster_home /state /home/viss-r1

# Logs reach `kubectl logs` and Dagster Pipes as they are written. `dagster job execute` finds the
# definitions without -m. The state folder is the shared volume (infra/k8s/state-pvc.yaml).
ENV HOME=/home/viss-r1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_CLI_JOB_EXECUTE_MODULE_NAME=pipelines \
    VISS_R1_STATE_DIR=/state

# 3000: the Dagster webserver (dagster-webserver); 3030: the code server below.
EXPOSE 3000 3030

# No ENTRYPOINT: the Helm chart and K8sRunLauncher give a pod's whole command as container args.
CMD ["dagster", "api", "grpc", "-m", "pipelines", "-h", "0.0.0.0", "-p", "3030"]
