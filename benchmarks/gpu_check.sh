#!/usr/bin/env bash
# The GPU check: one script that runs as it is on a GPU machine without internet access whose
# Python has torch (built for its CUDA) but not the project's pinned transformers, TRL or DeepSpeed.
#
#   benchmarks/gpu_check.sh [--out FILE] [--wheels DIR] [--python PY] [--budget SECONDS] [--workdir DIR]
#   benchmarks/gpu_check.sh --download-wheels [DIR] [--python-version 3.12] [--glibc 2.35] [--installed FREEZE]
#   benchmarks/gpu_check.sh --dry-run [--wheels DIR] [--python PY] [--ignore-installed]
#   benchmarks/gpu_check.sh --print-requirements
#
# On a machine with a package index, --download-wheels fetches the pinned stack for the GPU
# machine into DIR (default: benchmarks/wheels/, ignored by git): wheels for Linux x86-64 and
# CPython --python-version; DeepSpeed is built into a wheel without its CUDA ops (it compiles
# what it needs on the GPU). --installed takes the GPU machine's `pip list --format=freeze`, so
# only what it lacks is fetched. Copy the repository with that folder to the GPU machine, then:
#
#   1. install: a virtual environment on top of the machine's Python (its torch stays), the
#      pinned stack from the wheels, no index (benchmarks/wheelhouse.py says which packages);
#   2. gpu_smoke: benchmarks/gpu_smoke.py, the tiny model through SFT and GRPO, bf16, ZeRO-2;
#   3. realsize_3b: benchmarks/realsize_step.py --size 3b, a ViSS-R1 GRPO step and an SSL-CoT SFT
#      step at Qwen2.5-VL-3B's size, ours and TRL's GRPOTrainer;
#   4. gpu_tests: the tests marked `gpu` (pytest -m gpu), if the suite has any;
#   5. realsize_7b: the same at 7B, if the time left allows it.
#
# Each step has a time limit and the whole run a budget (--budget, default 570 s: within 10
# minutes on one H200). A step that fails or runs out of time does not stop the others. The
# figures of every step go into one JSON (--out, default benchmarks/out/gpu_check.json),
# written again after every step. --dry-run prints the steps and checks, with the chosen Python,
# that every requirement is installed or has an installable wheel in the folder; it needs no GPU.
# Exit status: 0 when every step that ran passed.

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
MODE=run
WHEELS="$HERE/wheels"
PY=python3
OUT="$REPO/benchmarks/out/gpu_check.json"
BUDGET=570
WORK=""
PYTHON_VERSION=""
GLIBC=2.35
INSTALLED=""
IGNORE_INSTALLED=""

# name, time limit in seconds (realsize_7b: the least time left it starts with; it then gets all of it)
STEPS=(
  "install 240"
  "gpu_smoke 180"
  "realsize_3b 420"
  "gpu_tests 120"
  "realsize_7b 360"
)

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

value() {  # the value after an option, or a clear error
  if [ $# -lt 2 ] || [ "${2#--}" != "$2" ]; then
    echo "gpu_check.sh: $1 needs a value (see --help)" >&2
    exit 2
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --download-wheels)
      MODE=download
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then WHEELS="$2"; shift; fi ;;
    --dry-run) MODE=dry-run ;;
    --print-requirements) MODE=requirements ;;
    --wheels) value "$@"; WHEELS="$2"; shift ;;
    --python) value "$@"; PY="$2"; shift ;;
    --out) value "$@"; OUT="$2"; shift ;;
    --budget) value "$@"; BUDGET="$2"; shift ;;
    --workdir) value "$@"; WORK="$2"; shift ;;
    --python-version) value "$@"; PYTHON_VERSION="$2"; shift ;;
    --glibc) value "$@"; GLIBC="$2"; shift ;;
    --installed) value "$@"; INSTALLED="$2"; shift ;;
    --ignore-installed) IGNORE_INSTALLED=--ignore-installed ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case "$MODE" in
  requirements)
    exec "$PY" "$HERE/wheelhouse.py" requirements ;;
  download)
    exec "$PY" "$HERE/wheelhouse.py" download "$WHEELS" --glibc "$GLIBC" \
      ${PYTHON_VERSION:+--python-version "$PYTHON_VERSION"} ${INSTALLED:+--installed "$INSTALLED"} ;;
  dry-run)
    echo "GPU check plan (budget ${BUDGET} s), Python: $PY, wheels: $WHEELS"
    for step in "${STEPS[@]}"; do
      read -r name limit <<<"$step"
      echo "  $name: at most ${limit} s"
    done
    echo "report: $OUT"
    exec "$PY" "$HERE/wheelhouse.py" check "$WHEELS" $IGNORE_INSTALLED ;;
esac

# ------------------------------------------------------------------------------------ run
STARTED=$(date +%s)
DEADLINE=$((STARTED + BUDGET))
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}"
mkdir -p "$WORK/logs" "$WORK/steps"
mkdir -p "$(dirname "$OUT")" && OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
VENV="$WORK/venv"
VPY="$VENV/bin/python"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  HF_HOME="$WORK/hf" TORCH_EXTENSIONS_DIR="$WORK/torch_extensions" TOKENIZERS_PARALLELISM=false \
  PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
cd "$REPO" || exit 1

report() {
  "$PY" "$HERE/gpu_check_report.py" write "$WORK/steps" "$OUT" --machine "$WORK/machine.json" \
    --budget "$BUDGET" --started "$STARTED"
}

record() {  # name rc seconds limit [figures] [note]; rc "" = skipped
  "$PY" "$HERE/gpu_check_report.py" record "$WORK/steps" "$1" ${2:+--rc "$2"} --seconds "$3" \
    ${4:+--limit "$4"} --log "$WORK/logs/$1.log" ${5:+--figures "$5"} ${6:+--note "$6"}
  report
}

limit_of() { for step in "${STEPS[@]}"; do read -r name limit <<<"$step"; [ "$name" = "$1" ] && echo "$limit"; done; }

FAILED=0
run_step() {  # name limit figures-file command...: runs it under its limit, cut to the time left
  local name=$1 limit=$2 figures=$3 left started rc
  shift 3
  left=$((DEADLINE - $(date +%s)))
  if [ "$left" -lt 30 ]; then
    record "$name" "" 0 "$limit" "" "not run: ${left} s of the ${BUDGET} s budget left"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit} s; ${left} s of the budget left)"
  started=$(date +%s)
  timeout -k 20 "$limit" "$@" 2>&1 | tee "$WORK/logs/$name.log"
  rc=${PIPESTATUS[0]}
  record "$name" "$rc" $(($(date +%s) - started)) "$limit" "$figures" \
    "$([ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "stopped at its ${limit} s limit")"
  [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
  return "$rc"
}

# The machine, as its own Python sees it (no GPU: nothing to check).
if ! "$PY" - >"$WORK/machine.json" <<'EOF'
import json, platform, sys
import torch
if not torch.cuda.is_available():
    sys.exit("gpu_check.sh needs a CUDA GPU: torch.cuda.is_available() is False for " + sys.executable)
props = torch.cuda.get_device_properties(0)
print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
                  "torch": torch.__version__, "cuda": torch.version.cuda, "gpus": torch.cuda.device_count(),
                  "gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1)}))
EOF
then
  echo "gpu_check.sh: no CUDA GPU visible to $PY (or no torch); nothing was run" >&2
  exit 3
fi
echo "GPU check: $(cat "$WORK/machine.json")"
echo "work folder: $WORK; report: $OUT"

venv_pip() {  # the machine's pip, installing into the venv (which has no pip of its own: see below)
  "$PY" -m pip --python "$VPY" "$@"
}

install_stack() {
  # No pip in the venv: on Python <= 3.11 it would bring an old setuptools, which shadows the
  # machine's and breaks the requirements of the machine's torch. The machine's pip installs into
  # it (pip >= 22.3). Its Python may itself be a virtual environment, whose packages (torch) a
  # venv made from it does not see: its site folders are added after the venv's own, so ours win
  # where both have a package.
  if ! "$PY" -m pip --help | grep -q -- "--python <python>"; then
    echo "the machine's pip cannot install into another environment (pip --python needs pip >= 22.3)"
    return 1
  fi
  "$PY" -m venv --system-site-packages --without-pip "$VENV" || return 1
  "$PY" - >"$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/machine-packages.pth" <<'EOF'
import site
folders = [*site.getsitepackages(), site.getusersitepackages()]
print("import site; " + "; ".join(f"site.addsitedir({folder!r})" for folder in folders))
EOF
  "$PY" "$HERE/wheelhouse.py" requirements >"$WORK/requirements.txt" || return 1
  echo "installing $(wc -l <"$WORK/requirements.txt") requirements (benchmarks/wheelhouse.py requirements) from $WHEELS"
  local complete=0
  if "$VPY" "$HERE/wheelhouse.py" check "$WHEELS" --installable "$WORK/installable.txt"; then
    venv_pip install --no-index --find-links "$WHEELS" --only-binary=:all: --no-compile -r "$WORK/requirements.txt" \
      && complete=1
  fi
  if [ "$complete" = 0 ]; then
    # Install what can be, each wheel as it is (with the lock the list is the whole tree), so the
    # steps that need only that still run; the report names what was missing.
    echo "installing what can be installed, without resolving"
    venv_pip install --no-index --find-links "$WHEELS" --only-binary=:all: --no-compile --no-deps \
      -r "$WORK/installable.txt"
  fi
  "$VPY" -c 'import torch, transformers, trl, deepspeed
print("torch", torch.__version__, "transformers", transformers.__version__, "trl", trl.__version__,
      "deepspeed", deepspeed.__version__, "cuda", torch.cuda.is_available())' || return 1
  [ "$complete" = 1 ]
}

run_gpu_tests() {
  local files
  files=$(grep -rlE 'pytest\.mark\.gpu\b' "$REPO/tests" --include='test_*.py' || true)
  if [ -z "$files" ]; then
    echo "no test in tests/ is marked gpu"
    return 0
  fi
  # shellcheck disable=SC2086  # one argument per file
  "$VPY" -m pytest -m gpu -q -p no:cacheprovider $files
}

# `timeout` runs programs, not shell functions: the two steps written here run in a bash of their own.
export -f venv_pip install_stack run_gpu_tests
export PY VENV VPY WHEELS WORK HERE REPO
run_step install "$(limit_of install)" "" bash -c install_stack
run_step gpu_smoke "$(limit_of gpu_smoke)" "$WORK/gpu_smoke.json" \
  "$VPY" "$HERE/gpu_smoke.py" --workdir "$WORK/gpu_smoke" --json "$WORK/gpu_smoke.json"
rm -rf "$WORK/gpu_smoke"
run_step realsize_3b "$(limit_of realsize_3b)" "$WORK/realsize_3b.json" \
  "$VPY" "$HERE/realsize_step.py" --size 3b --workdir "$WORK/realsize_3b" --json "$WORK/realsize_3b.json"
rm -rf "$WORK/realsize_3b/model"   # 7.5 GB of random weights
run_step gpu_tests "$(limit_of gpu_tests)" "" bash -c run_gpu_tests
left=$((DEADLINE - $(date +%s)))
if [ "$left" -ge "$(limit_of realsize_7b)" ]; then   # the rest of the budget, less a margin for the report
  run_step realsize_7b $((left - 10)) "$WORK/realsize_7b.json" \
    "$VPY" "$HERE/realsize_step.py" --size 7b --workdir "$WORK/realsize_7b" --json "$WORK/realsize_7b.json"
  rm -rf "$WORK/realsize_7b/model"
else
  record realsize_7b "" 0 "$(limit_of realsize_7b)" "" "not run: ${left} s of the budget left, it needs $(limit_of realsize_7b) s"
fi

report
echo "== done in $(($(date +%s) - STARTED)) s; report: $OUT"
[ "$FAILED" = 0 ]
