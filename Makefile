# marketpipe — make targets. `make help` lists them.
# Everything installs on demand and is cached: a second run of any target skips what is done.

SHELL        := /bin/bash
.DEFAULT_GOAL := help

PYTHON       ?= $(shell command -v python3.11 || command -v python3)
VENV         := .venv
PY           := $(VENV)/bin/python
MP           := $(VENV)/bin/marketpipe
STAMP        := $(VENV)/.installed
JARS_STAMP   := jvm/.jars-installed
DBT_VENV     := .venv-dbt
DBT_STAMP    := $(DBT_VENV)/.installed
ORCH_VENV    := .venv-orch
ORCH_STAMP   := $(ORCH_VENV)/.installed
ORCH_PY      := $(ORCH_VENV)/bin/python
CHART_DIR    := marketpipe/chart
CHART_VENDOR := $(CHART_DIR)/static/vendor/lightweight-charts.standalone.production.js
DEMO_SECONDS ?= 60
DEMO_KEEP    ?=
PYTEST_ARGS  ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help
help: ## list the targets
	@echo "marketpipe — quickstart: 'make demo', then 'make test'"
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}'
	@echo
	@echo "Variables: DEMO_SECONDS=$(DEMO_SECONDS) DEMO_KEEP=1 FILE=ticks.csv PYTEST_ARGS='-k bars' START=/END= (backfill)"
	@echo "Settings:  MARKETPIPE_* environment variables or .env (docs/configuration.md)"

# ---------------------------------------------------------------------------- install
.PHONY: install system-deps
install: system-deps $(STAMP) $(JARS_STAMP) $(CHART_VENDOR) ## install what is missing: apt packages, venv, jars, the chart's JS (cached)

system-deps: ## apt-get the system packages that are missing (Java 17, Maven, PostgreSQL, Prometheus, venv)
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn  >/dev/null || missing="$$missing maven"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm      >/dev/null || missing="$$missing npm"; \
	for b in prometheus prometheus-alertmanager prometheus-postgres-exporter; do \
	  command -v $$b >/dev/null || [ -x /usr/bin/$$b ] || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing \
	    && if [[ "$$missing" == *postgresql* ]]; then \
	         for c in /etc/postgresql/*/main; do [ -d "$$c" ] || continue; v=$$(basename $$(dirname $$c)); \
	           $$SUDO pg_ctlcluster $$v main stop 2>/dev/null || true; \
	           echo manual | $$SUDO tee $$c/start.conf >/dev/null; done; \
	       fi \
	    && if [[ "$$missing" == *prometheus* ]] && command -v systemctl >/dev/null; then \
	         for s in prometheus prometheus-alertmanager prometheus-postgres-exporter prometheus-node-exporter; do \
	           $$SUDO systemctl disable --now $$s >/dev/null 2>&1 || true; done; \
	       fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

$(JARS_STAMP): jvm/pom.xml jvm/flink/pom.xml jvm/kafka/pom.xml jvm/registry/pom.xml jvm/udfs/pom.xml $(shell find jvm/udfs/src -name '*.java' 2>/dev/null)
	mvn -B -q -f jvm/pom.xml package
	@touch $@

$(DBT_STAMP): requirements-dbt.txt
	@test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install -q -r requirements-dbt.txt
	@touch $@

# Dagster + dbt + Soda + Playwright: their pins conflict with PyFlink's (requirements-orchestration.txt).
# `pip check` verifies the pinned closure (ignoring marketpipe's own PyFlink deps, installed --no-deps).
$(ORCH_STAMP): requirements-orchestration.txt pyproject.toml
	@test -x $(ORCH_PY) || $(PYTHON) -m venv $(ORCH_VENV)
	$(ORCH_PY) -m pip install -q -r requirements-orchestration.txt
	@out=$$($(ORCH_PY) -m pip check 2>&1 | grep -v -e '^marketpipe ' -e '^No broken'); \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; else echo "pip check: closure consistent"; fi
	$(ORCH_PY) -m pip install -q --no-deps -e .
	@touch $@

.PHONY: orch-venv
orch-venv: $(ORCH_STAMP) ## create .venv-orch (Dagster, dagster-dbt, Soda, Playwright) if missing

# The chart's browser library (lightweight-charts), pinned by package-lock.json and vendored from npm into
# a gitignored dir the chart server serves; rebuilt only when the lock changes.
$(CHART_VENDOR): $(CHART_DIR)/package.json $(CHART_DIR)/package-lock.json
	npm ci --prefix $(CHART_DIR) --ignore-scripts --no-audit --no-fund --loglevel=error
	@mkdir -p $(dir $@)
	cp $(CHART_DIR)/node_modules/lightweight-charts/dist/$(notdir $@) $(CHART_DIR)/node_modules/lightweight-charts/LICENSE $(dir $@)
	@touch $@

.PHONY: chart-vendor
chart-vendor: $(CHART_VENDOR) ## vendor the chart's JS library from npm (cached; `make chart` and `make test` need it)

# `docker compose config` validates docker-compose.yml without an engine. Debian has no Compose v2
# package, so when the docker CLI lacks the plugin we build it from the Go module proxy (cached).
COMPOSE_VERSION := v2.40.3
COMPOSE_PLUGIN  := $(HOME)/.docker/cli-plugins/docker-compose
.PHONY: compose-plugin
compose-plugin: ## build the docker compose v2 CLI plugin if the docker CLI lacks it (needs Go)
	@if ! command -v docker >/dev/null; then echo "no docker CLI: docker-compose.yml cannot be validated"; exit 1; fi
	@if ! docker compose version >/dev/null 2>&1; then \
	  command -v go >/dev/null || { echo "docker compose is missing and Go is not installed to build it"; exit 1; }; \
	  echo "building docker compose $(COMPOSE_VERSION) from the Go module proxy"; \
	  dir=$$(go mod download -json github.com/docker/compose/v2@$(COMPOSE_VERSION) | $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') && \
	  mkdir -p $(dir $(COMPOSE_PLUGIN)) && (cd $$dir && go build -trimpath -o $(COMPOSE_PLUGIN) ./cmd) && \
	  docker compose version; \
	fi

# ---------------------------------------------------------------------------- the two commands
.PHONY: demo test
demo: install ## stack up, pipeline job, synthetic feed for DEMO_SECONDS, summary (DEMO_KEEP=1 keeps it up)
	$(MP) demo --seconds $(DEMO_SECONDS) $(if $(DEMO_KEEP),--keep,)

test: install lint $(DBT_STAMP) $(ORCH_STAMP) $(CHART_VENDOR) compose-plugin ## lint, then the whole suite: unit, pipeline, integration, then orchestration + browser (.venv-orch)
	$(VENV)/bin/pytest --ignore=tests/orchestration --ignore=tests/browser $(PYTEST_ARGS)
	$(ORCH_VENV)/bin/pytest tests/orchestration tests/browser $(PYTEST_ARGS)

# Configured in pyproject.toml ([tool.ruff], [tool.mypy]); versions pinned in its `test` extra.
.PHONY: lint
lint: $(STAMP) ## ruff (pycodestyle, bugbear, docstrings, aware datetimes …) and mypy --strict over the whole tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

.PHONY: test-orch
test-orch: install $(ORCH_STAMP) ## orchestration (Dagster/dbt/Soda on the real stack) and browser tests only
	$(ORCH_VENV)/bin/pytest tests/orchestration tests/browser $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## unit tests only (no services)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

# ---------------------------------------------------------------------------- the stack
.PHONY: up down status
up: install ## start Kafka, PostgreSQL, Flink and the Iceberg catalog (no-op if running)
	$(MP) stack up
down: ## stop what 'make up' started
	@test -x $(MP) && $(MP) stack down || true
status: ## each service, its address, pid and health
	$(MP) stack status

.PHONY: jobs-start jobs-stop jobs-restart jobs-status
jobs-start: up ## submit the pipeline jobs (each resumes from its last savepoint or latest checkpoint, whichever is newer)
	$(MP) jobs start
jobs-stop: ## stop the pipeline job with a savepoint
	$(MP) jobs stop
jobs-restart: ## savepoint, stop, and start again (picks up edited flink_sql/ files)
	$(MP) jobs restart
jobs-status: ## jobs on the Flink cluster
	$(MP) jobs status

.PHONY: feed replay summary
feed: ## synthetic feed: 5 symbols, 50 ticks/s, 60 s, event time x60
	$(MP) feed synthetic --symbols 5 --rate 50 --duration 60 --accelerate 60
replay: ## replay FILE=ticks.csv into Kafka and wait for its bars
	@test -n "$(FILE)" || { echo "usage: make replay FILE=path/to/ticks.csv"; exit 2; }
	$(MP) replay $(FILE) --wait
summary: ## row counts of topics, PostgreSQL tables and Iceberg tables
	$(MP) summary

# ---------------------------------------------------------------------------- serving layer
.PHONY: dbt psql chart
chart: install $(CHART_VENDOR) ## the live candlestick view on 127.0.0.1:MARKETPIPE_CHART_PORT (18050), reading PostgreSQL
	$(MP) chart
dbt: $(DBT_STAMP) ## build the dbt models (staging + marts) in PostgreSQL and run their tests
	$(PY) -m marketpipe.dbt build
DAGSTER_HOME ?= $(CURDIR)/.data/dagster
.PHONY: ui backfill check
ui: install $(ORCH_STAMP) ## Dagster UI + daemon on 127.0.0.1:MARKETPIPE_DAGSTER_PORT (13000), DAGSTER_HOME=.data/dagster
	@mkdir -p $(DAGSTER_HOME) && touch $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) $(ORCH_VENV)/bin/dagster dev -m orchestration.definitions -h 127.0.0.1 \
	  -p $$($(ORCH_PY) -c 'from marketpipe.settings import load_settings; print(load_settings().dagster_port)')
backfill: install $(ORCH_STAMP) ## materialize trading days START=YYYY-MM-DD END=YYYY-MM-DD (progress bar; runs show in the UI)
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	@mkdir -p $(DAGSTER_HOME) && touch $(DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME) $(ORCH_PY) -m orchestration.backfill $(START) $(END)
check: $(ORCH_STAMP) ## Soda quality checks on the serving tables (exit 1 on failures)
	$(MP) check

psql: ## open psql on the stack's database
	@# the DSN in the status has no password (docs/security.md); psql gets it from the settings
	PGPASSWORD="$$($(PY) -c 'from marketpipe.settings import load_settings; print(load_settings().postgres_password.get_secret_value())')" \
	  psql "$$($(MP) stack status --json | $(PY) -c 'import json,sys; print(json.load(sys.stdin)["postgres_dsn"])')"

# ---------------------------------------------------------------------------- housekeeping
.PHONY: clean
clean: down ## stop the stack and delete its data (.data/)
	rm -rf .data

CHAOS_KILLS ?= 6
.PHONY: chaos soak
chaos: install ## kill -9 taskmanager / whole Flink cluster CHAOS_KILLS (6) times mid-replay, then check every sink is exactly once
	MARKETPIPE_CHAOS_KILLS=$(CHAOS_KILLS) $(VENV)/bin/pytest tests/integration/test_zz_crash_recovery.py -k kill $(PYTEST_ARGS)
soak: install ## synthetic feed at a steady rate for 10 min: memory of every process, lag, accounting (SOAK_ARGS=--seconds N)
	$(PY) -m bench.soak $(SOAK_ARGS)

.PHONY: bench-venv bench-pipeline
bench-venv: ## .venv-bench: Quix Streams (the peer the pipeline benchmark runs beside ours) and matplotlib (its plot)
	@test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	@test -f .venv-bench/.installed || { .venv-bench/bin/pip install -q "quixstreams==3.28.*" "matplotlib==3.10.*" \
	  && touch .venv-bench/.installed; }
bench-pipeline: install bench-venv ## the streaming pipeline end to end beside raw Kafka consume and Quix Streams (own stack; BENCH_ARGS=--symbols N)
	$(PY) -m bench.pipeline $(BENCH_ARGS)

BENCH_ARGS ?=
.PHONY: bench
bench: install bench-venv ## everything side by side in one run: pipeline end to end vs raw consume and Quix Streams, latency, start-up, replay, backfill, engines, the bars job stage by stage; writes bench/results/latest.json, docs/performance.md figures and plot
	$(PY) -m bench.run $(BENCH_ARGS)
	.venv-bench/bin/python bench/plot.py
