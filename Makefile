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

test: setup browser postgres
	$(BIN)/pytest -q

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
