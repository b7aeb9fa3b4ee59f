# One command each: `make run` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := $(CURDIR)/state

# Every package, pinned with the hashes of its files, resolved from pyproject.toml (all extras).
LOCK := requirements.lock
# The pip that installs it (see the file for why the venv's own pip is not used).
PIP_LOCK := requirements-pip.lock

.PHONY: setup run test ui mlflow-ui clean-state lock lock-upgrade

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the lock or the project's own metadata changes. The lock was resolved for
# CPython 3.11 on Linux x86-64; elsewhere pip resolves pyproject.toml's pins and ranges itself.
# DeepSpeed builds no CUDA ops on CPU machines.
LOCK_PLATFORM := $(shell $(PYTHON) -c 'import platform, sys; print(sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11))')

$(VENV)/.installed: $(LOCK) $(PIP_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(PIP_LOCK)
ifeq ($(LOCK_PLATFORM),True)
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
else
	@echo "$(LOCK) is for CPython 3.11 on Linux x86-64: installing from pyproject.toml's pins and ranges"
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet -e '.[test,cluster]'
endif
	$(BIN)/python scripts/configure_env.py --state $(STATE)
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/dagster job execute -j full_viss_r1

# Two workers (pytest-xdist) keep both cores busy (README, "Two commands"). Tests go to a worker
# one file at a time, in collection order (tests/conftest.py), so a module's fixtures are built once.
TEST_WORKERS ?= 2
test: setup browser postgres
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The browser test drives Debian's chromium (Playwright's own download does not work here):
# installed with apt-get when missing and we are root, else a message saying how to get it.
.PHONY: browser
browser:
	bash scripts/ensure_browser.sh

# The PostgreSQL storage test starts its own server on loopback from Debian's postgresql package.
.PHONY: postgres
postgres:
	bash scripts/ensure_postgres.sh

ui: setup
	$(BIN)/dagster dev --host 127.0.0.1

mlflow-ui: setup
	$(BIN)/mlflow ui --host 127.0.0.1 --backend-store-uri sqlite:///$(STATE)/mlflow.db

clean-state:
	rm -rf $(STATE)

# Re-resolve $(LOCK) after a change to pyproject.toml: `lock` keeps every pin that still fits,
# `lock-upgrade` moves every package to its newest allowed release. pip-tools runs in a venv of its
# own (the project's venv holds exactly the lock) and asks PyPI alone, whatever else this machine's
# pip is configured with, so the hashes are PyPI's files'. Run it with CPython 3.11 on Linux x86-64:
# markers (the CUDA libraries torch needs there) are resolved for the machine it runs on. Extras stay
# on the lock's lines (no --strip-extras): pip before 23.3, in hash-checking mode, refuses a
# dependency's `gql[requests]` that the lock pins as a bare `gql`.
LOCK_TOOLS := $(VENV)/lock-tools
PIP_COMPILE = PIP_CONFIG_FILE=/dev/null DS_BUILD_OPS=0 CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_TOOLS)/bin/pip-compile --quiet --all-extras \
	--generate-hashes --allow-unsafe --no-emit-index-url --no-emit-trusted-host \
	--no-emit-find-links --output-file $(LOCK) pyproject.toml

$(LOCK_TOOLS)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet pip==26.3 pip-tools==7.6.2

lock: | $(LOCK_TOOLS)/bin/pip-compile
	$(PIP_COMPILE)

lock-upgrade: | $(LOCK_TOOLS)/bin/pip-compile
	$(PIP_COMPILE) --upgrade
