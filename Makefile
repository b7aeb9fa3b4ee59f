# One command each: `make run` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := $(CURDIR)/state

.PHONY: setup run test ui mlflow-ui clean-state

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes. DeepSpeed builds no CUDA ops on CPU machines.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python scripts/configure_env.py --state $(STATE)
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/dagster job execute -j full_viss_r1

test: setup
	$(BIN)/pytest -q

ui: setup
	$(BIN)/dagster dev --host 127.0.0.1

mlflow-ui: setup
	$(BIN)/mlflow ui --host 127.0.0.1 --backend-store-uri sqlite:///$(STATE)/mlflow.db

clean-state:
	rm -rf $(STATE)
