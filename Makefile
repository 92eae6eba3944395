# Quickstart: `make demo` and `make test` on a fresh machine with python3 and make.
# Everything is installed into .venv (and .venv-floor for the Airflow 3.1 floor check) by these targets.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLOOR_VENV := .venv-floor
FLOOR_VERSION := 3.1.0
FLOOR_AIRFLOW := apache-airflow==$(FLOOR_VERSION)
PIP_FLAGS := -q --disable-pip-version-check
# pip's per-index warnings about this machine's local mirrors are noise.
QUIET_PIP := 2>&1 | grep -v "^WARNING: Location" || true

.PHONY: help install test lint typecheck unit test-floor demo up airflow test-ui docs docs-serve emulator bench clean
.PHONY: production-packages up-production test-production test-ui-production bench-e2e

help:
	@echo "make demo        - run the studio_etl_chain example DAG through Airflow against a local Studio"
	@echo "make up          - Airflow (UI on http://127.0.0.1:8080, admin/admin) with the examples and a local Studio"
	@echo "                   (DAGS_FOLDER=path for your own DAGs; UP_ARGS=\"--help\" for every option)"
	@echo "make airflow     - Airflow's CLI against the running \`make up\`: make airflow ARGS=\"dags list\""
	@echo "make test-ui     - start that stack, run the example, check the UI in headless Chromium"
	@echo "make docs        - build the documentation site (mkdocs --strict) into build/site"
	@echo "make test        - ruff, mypy and the whole test suite (creates .venv)"
	@echo "make test-floor  - the unit tests on the oldest supported Airflow ($(FLOOR_AIRFLOW))"
	@echo "make emulator    - start the local Studio emulator on http://127.0.0.1:8765"
	@echo "make bench       - what a job costs the emulator, and what waiting for 2,000 jobs costs per design"
	@echo "make up-production   - the same with PostgreSQL, Redis, Celery (2 workers) and 2 triggerers"
	@echo "make test-production - the reliability scenarios on that production-shaped stack"
	@echo "make test-ui-production - the browser check against that stack"
	@echo "make bench-e2e   - N deferred Studio job tasks through that stack, WebSocket vs polling (N=500)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip $(QUIET_PIP)
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[test]" $(QUIET_PIP)
	$(BIN)/python -c "import studio_provider, airflow, respx, pytest"
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check $(wildcard studio_provider tests dags_examples benchmarks tools)

typecheck: install
	$(BIN)/mypy studio_provider

unit: install
	$(BIN)/pytest -q tests/client tests/hooks tests/test_get_provider_info.py

test: lint typecheck
	$(BIN)/pytest -q

$(FLOOR_VENV)/.installed: pyproject.toml tests/floor-constraints.txt
	test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip $(QUIET_PIP)
	$(FLOOR_VENV)/bin/python -m pip install $(PIP_FLAGS) -c tests/floor-constraints.txt "$(FLOOR_AIRFLOW)" -e ".[test]" $(QUIET_PIP)
	$(FLOOR_VENV)/bin/python -c "import airflow; assert airflow.__version__ == '$(FLOOR_VERSION)', airflow.__version__"
	touch $@

# On the floor, everything that touches Airflow runs, with these left out:
# - tests of a *missing* connection: outside a supervised task 3.1.0's lookup fails with an ImportError
#   (SUPERVISOR_COMMS) instead of AirflowNotFoundException;
# - `dag_run` tests: 3.1.0's in-process dag.test() refuses to start any task, a plain @task included
#   ("Remote server returned validation error"); the same operators' execute/defer/trigger paths run here;
# - the emulator's own tests (no Airflow in them) and the reliability suite (real multi-process Airflow,
#   run on the current Airflow by `make test`).
FLOOR_DESELECT := \
	--deselect tests/hooks/test_studio.py::test_default_connection_may_be_absent_when_environment_is_set \
	--deselect tests/hooks/test_studio.py::test_missing_named_connection_says_how_to_create_it \
	--deselect tests/hooks/test_studio.py::test_missing_default_connection_suggests_the_environment_too \
	-m "not dag_run" --ignore=tests/emulator --ignore=tests/reliability --ignore=tests/ui

test-floor: $(FLOOR_VENV)/.installed
	$(FLOOR_VENV)/bin/pytest -q -p no:cacheprovider $(FLOOR_DESELECT) tests

# About a minute after the install: the emulator, a fresh Airflow database, `airflow dags test`, a summary.
demo: install
	@$(BIN)/python tools/demo.py

# The stack: `make up`, `make up DAGS_FOLDER=~/my-dags`, `make up UP_ARGS="--port 8090"` (python tools/stack.py -h).
UP_HOME := airflow-home/up
up: install
	@$(BIN)/python tools/stack.py $(if $(DAGS_FOLDER),--dags-folder "$(DAGS_FOLDER)") $(UP_ARGS)

# Airflow's CLI against the `make up` stack (its database, secrets and DAGs folder), from another terminal:
# make airflow ARGS="connections test datachain_studio_default"
airflow: install
	@test -f $(UP_HOME)/airflow.env || { echo "No stack settings in $(UP_HOME)/airflow.env: start the stack with \`make up\` first."; exit 1; }
	@. ./$(UP_HOME)/airflow.env && airflow $(ARGS)

$(VENV)/.installed-ui: $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[test,ui]" $(QUIET_PIP)
	$(BIN)/python -c "import playwright"
	touch $@

# Debian's chromium (installed here when missing); Playwright drives it, never a downloaded browser.
/usr/bin/chromium:
	apt-get install -y chromium || (apt-get update && apt-get install -y chromium)

test-ui: $(VENV)/.installed-ui /usr/bin/chromium
	$(BIN)/pytest -q -p no:cacheprovider tests/ui/check_airflow_ui.py

$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[test,docs]" $(QUIET_PIP)
	$(BIN)/python -c "import mkdocs, material, mkdocstrings_handlers.python"
	touch $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

docs-serve: $(VENV)/.installed-docs
	$(BIN)/mkdocs serve

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[test,bench]" $(QUIET_PIP)
	$(BIN)/python -c "import trustme, matplotlib, psutil"
	touch $@

# Two sections: what a job costs the emulator, then what waiting for 2,000 jobs costs per design.
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/emulator_jobs.py
	$(BIN)/python benchmarks/wait_bench.py $(BENCH_ARGS)

# ---- the production-shaped stack: PostgreSQL + Redis + CeleryExecutor, two workers, two triggerers ----
$(VENV)/.installed-production: $(VENV)/.installed
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[test,production]" $(QUIET_PIP)
	$(BIN)/python -c "import airflow.providers.celery, celery, redis, psycopg2, asyncpg, psutil"
	touch $@

# Debian's PostgreSQL and Redis servers, installed when missing. Only their programs are used: the stack
# makes its own throwaway cluster (initdb) and server on loopback ports and never starts the system services.
production-packages:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql \
		|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)
	@test -x /usr/bin/redis-server || DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server \
		|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server)

up-production: $(VENV)/.installed-production production-packages
	@$(BIN)/python tools/production_stack.py $(UP_ARGS)

# The reliability scenarios on the production-shaped stack (about 5 minutes; see docs/reliability.md).
test-production: $(VENV)/.installed-production production-packages
	$(BIN)/pytest -q -p no:cacheprovider tests/reliability/check_production.py

test-ui-production: $(VENV)/.installed-ui $(VENV)/.installed-production production-packages /usr/bin/chromium
	STUDIO_UI_STACK=production $(BIN)/pytest -q -p no:cacheprovider tests/ui/check_airflow_ui.py

# N deferred Studio job tasks through the production-shaped stack (default 500): BENCH_E2E_ARGS="--tasks 1000".
bench-e2e: $(VENV)/.installed-production $(VENV)/.installed-bench production-packages
	$(BIN)/python benchmarks/e2e_wait_bench.py $(BENCH_E2E_ARGS)

emulator: install
	$(BIN)/python -m studio_provider.emulator --token local-token --team local-team

clean:
	rm -rf $(VENV) $(FLOOR_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
