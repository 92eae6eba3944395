# Quickstart: `make demo` and `make test` on a fresh machine with python3 and make.
# Everything is installed into .venv (and .venv-airflow-<version> for the other supported Airflow
# versions) by these targets.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The supported Airflow versions besides .venv's (the newest, 3.3.2): the floor, and the newest 3.1 and
# 3.2. Each installs as the docs tell users to (docs/install.md): `apache-airflow==<version>` with the
# pins in tests/constraints/airflow-<version>.txt.
FLOOR_VERSION := 3.1.0
MATRIX_VERSIONS := 3.1.8 3.2.2
PIP_FLAGS := -q --disable-pip-version-check
# pip's per-index warnings about this machine's local mirrors are noise.
QUIET_PIP := 2>&1 | grep -v "^WARNING: Location" || true

.PHONY: help install test lint typecheck unit test-floor test-airflow-versions matrix-versions demo up airflow test-ui docs docs-serve emulator bench clean
.PHONY: production-packages up-production test-production test-ui-production bench-e2e

help:
	@echo "make demo        - run the studio_etl_chain example DAG through Airflow against a local Studio"
	@echo "make up          - Airflow (UI on http://127.0.0.1:8080, admin/admin) with the examples and a local Studio"
	@echo "                   (DAGS_FOLDER=path for your own DAGs; UP_ARGS=\"--help\" for every option)"
	@echo "make airflow     - Airflow's CLI against the running \`make up\`: make airflow ARGS=\"dags list\""
	@echo "make test-ui     - start that stack, run the example, check the UI in headless Chromium"
	@echo "make docs        - build the documentation site (mkdocs --strict) into build/site"
	@echo "make test        - ruff, mypy and the whole test suite (creates .venv)"
	@echo "make test-floor  - the unit tests and real DAG runs on the oldest supported Airflow ($(FLOOR_VERSION))"
	@echo "make test-airflow-versions - real DAG runs on Airflow $(MATRIX_VERSIONS) (make test-airflow-<version>: one)"
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

# A venv per supported Airflow version: `apache-airflow==<version>` and the provider, with only the pins
# that version needs (tests/constraints/airflow-<version>.txt says why for each). Airflow's own
# constraints files, the usual way, are not reachable from CI.
.PRECIOUS: .venv-airflow-%/.installed
.venv-airflow-%/.installed: pyproject.toml tests/constraints/airflow-%.txt
	test -x .venv-airflow-$*/bin/python || $(PYTHON) -m venv .venv-airflow-$*
	.venv-airflow-$*/bin/python -m pip install $(PIP_FLAGS) --upgrade pip $(QUIET_PIP)
	.venv-airflow-$*/bin/python -m pip install $(PIP_FLAGS) -c tests/constraints/airflow-$*.txt "apache-airflow==$*" -e ".[test]" $(QUIET_PIP)
	.venv-airflow-$*/bin/python -c "import airflow; assert airflow.__version__ == '$*', airflow.__version__"
	touch $@

# What runs on every supported version: the real DAG runs, i.e. every test marked `dag_run` (dag.test() of
# the provider's DAGs against the emulator: jobs, mapped jobs, pipelines, schedules, assets, a lost create
# response; `airflow dags test` of an example), and a real multi-process Airflow (api-server, scheduler,
# dag-processor, triggerers as processes): a task process killed mid-wait, a deferred task marked failed,
# a triggerer killed while tasks wait; then a search of all that Airflow wrote for the token. The order is
# `make test`'s: the token search needs the task logs of the runs before it.
CLUSTER_TESTS := tests/reliability/test_triggerer_restart.py tests/reliability/test_worker_crash.py

# Left out where a version cannot pass them, each for a limit of that Airflow:
# - before 3.3, the multi-process dataset watcher test: it counts the team-wide poll that watchers share
#   on 3.3 (shared trigger streams) and expects a new triggerer to resume from the asset's state store
#   (3.3+). Before 3.3 each watcher reads its own dataset and a restarted triggerer takes a new baseline
#   (docs/assets.md); the watcher's events are checked by test_on_new_dataset on every version;
# - before 3.3, marking a deferred task failed does not cancel its job: the triggerer calls no on_kill
#   for a user's action before 3.3 (docs/jobs.md, "Cancellation");
# - before 3.3, test_failure_handling: dag.test() runs on_failure_callback without context["exception"]
#   (3.3 added it; a deployment's task runner passes it on every version), so the callback cannot name
#   the Studio URL there;
# - before 3.2, the watcher registration test: it reads AssetWatcherModel, new in 3.2 (3.1 links assets
#   to triggers without the watcher's name);
# - on 3.1.0, a task process killed mid-wait: 3.1.0 fails a task whose process died without its retries
#   (later 3.1 releases retry it), so there is no retry to reconnect to the job.
BEFORE_3_3_DESELECT := \
	--deselect tests/triggers/test_dataset_watcher_airflow.py::test_one_dag_run_per_new_version_across_a_triggerer_restart \
	--deselect tests/reliability/test_worker_crash.py::test_marking_a_deferred_task_failed_cancels_its_job \
	--deselect tests/examples/test_example_runs.py::test_failure_handling
BEFORE_3_2_DESELECT := $(BEFORE_3_3_DESELECT) \
	--deselect tests/assets/test_events.py::test_a_watched_dataset_registers_its_trigger_with_primitive_kwargs
DESELECT_3.1.0 := $(BEFORE_3_2_DESELECT) \
	--deselect tests/reliability/test_worker_crash.py::test_killed_task_process_retries_and_reconnects_to_the_same_job
DESELECT_3.1.8 := $(BEFORE_3_2_DESELECT)
DESELECT_3.2.2 := $(BEFORE_3_3_DESELECT)

# Real DAG runs on one Airflow version: `make test-airflow-3.2.2`.
test-airflow-%: .venv-airflow-%/.installed
	.venv-airflow-$*/bin/pytest -q -p no:cacheprovider -m dag_run --ignore=tests/ui $(DESELECT_$*) tests
	.venv-airflow-$*/bin/pytest -q -p no:cacheprovider $(DESELECT_$*) $(CLUSTER_TESTS)

# The newest 3.1 and 3.2 (.venv's 3.3 runs the same tests in `make test`; the floor in `make test-floor`).
test-airflow-versions: $(addprefix test-airflow-,$(MATRIX_VERSIONS))

# For .ci/run, which guards each version's run separately.
matrix-versions:
	@echo $(MATRIX_VERSIONS)

# On the floor, the whole suite runs (unit tests and real DAG runs) and the multi-process Airflow, with
# these left out besides the version limits above:
# - tests of a *missing* connection: outside a supervised task 3.1.0's lookup fails with an ImportError
#   (SUPERVISOR_COMMS) instead of AirflowNotFoundException;
# - the emulator's own tests (no Airflow in them) and the rest of the reliability suite (faults injected
#   into the client and operators, run on the current Airflow by `make test`).
FLOOR_DESELECT := \
	--deselect tests/hooks/test_studio.py::test_default_connection_may_be_absent_when_environment_is_set \
	--deselect tests/hooks/test_studio.py::test_missing_named_connection_says_how_to_create_it \
	--deselect tests/hooks/test_studio.py::test_missing_default_connection_suggests_the_environment_too \
	--ignore=tests/emulator --ignore=tests/reliability --ignore=tests/ui

test-floor: .venv-airflow-$(FLOOR_VERSION)/.installed
	.venv-airflow-$(FLOOR_VERSION)/bin/pytest -q -p no:cacheprovider $(FLOOR_DESELECT) $(DESELECT_$(FLOOR_VERSION)) tests
	.venv-airflow-$(FLOOR_VERSION)/bin/pytest -q -p no:cacheprovider $(DESELECT_$(FLOOR_VERSION)) $(CLUSTER_TESTS)

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
	rm -rf $(VENV) .venv-airflow-* build *.egg-info .pytest_cache .mypy_cache .ruff_cache
