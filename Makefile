# The commands the README names. `make run` and `make test` do all the set-up they need: first a preflight finds or
# installs what comes from outside the repository (or stops, naming what is missing), then the venvs are made from
# the pinned requirement files and node_modules from package-lock.json.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

HOST ?= 127.0.0.1
PORT ?= 3000

# scripts/preflight.sh NEED...: see the script for what each need is and where it is looked for.
PREFLIGHT = PYTHON=$(PYTHON) PYENV_PYTHONS=$(PYENV_PYTHONS) scripts/preflight.sh

.PHONY: run test preflight preflight-run unit lint bench vocab clean redrive sql report

# What `make test` needs from outside: python for the venvs, python3.12 for sam build, npm for axe-core and Debian's
# chromium for the browser tests (installed with apt-get when missing and run as root).
preflight:
	@$(PREFLIGHT) python python3.12 npm chromium

preflight-run:
	@$(PREFLIGHT) python

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: preflight-run $(STAMP)
	$(BIN)/python -m local --host $(HOST) --port $(PORT)

# A DLQ of the running `make run` back to its source queue (README, "Redrive"): make redrive QUEUE=QuarantineDLQ
redrive: $(STAMP)
	@test -n "$(QUEUE)" || { echo "usage: make redrive QUEUE=<logical id or queue name of a DLQ>" >&2; exit 2; }
	$(BIN)/python -m local.redrive "$(QUEUE)"

# Prerequisites are made in the order listed: the preflight before any venv. Two pytest workers, a file each at a
# time (so a module's stack is started once): most of the e2e suites wait on pollers and stream batches rather than
# compute, and one worker would leave the second core idle through them.
TEST_WORKERS ?= 2
test: preflight lint $(STAMP) gates $(NODE_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# axe-core for the web form's accessibility tests (tests/browser), exactly as package-lock.json pins it.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared functions local bench
	$(BIN)/lint-imports --no-cache

# The cold-start budget is about the runtime Lambda runs (python3.12): bench measures there too.
PY312 ?= $(shell $(PREFLIGHT) --locate python3.12)
RUNTIME_STAMP := .tools/py312/.installed

$(RUNTIME_STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PY312)" || $(PREFLIGHT) python3.12
	$(PY312) -m venv .tools/py312
	.tools/py312/bin/python -m pip install --quiet -r requirements.txt $$(grep -E '^(boto3|botocore|s3transfer|jmespath|urllib3|python-dateutil|six)==' requirements-dev.txt)
	touch $(RUNTIME_STAMP)

bench: $(STAMP) $(RUNTIME_STAMP)
	@$(BIN)/python -m bench

# SQL over the lake (README, "SQL over the lake"): make sql [QUERY="select ..." | FILE=infra/queries/x.sql]
# [FORMAT=table|csv|xlsx] [OUT=file] [LAKE=dir]; with neither QUERY nor FILE, a DuckDB prompt.
LAKE ?= $(or $(LOCAL_STATE_DIR),.local-state)/lake
FORMAT ?= table
sql: $(STAMP)
	@$(BIN)/python -m scripts.sql --lake "$(LAKE)" $(if $(QUERY),--query "$(QUERY)") $(if $(FILE),--file "$(FILE)") \
		--format $(FORMAT) $(if $(OUT),--out "$(OUT)")

# The metrics report over the lake: report/report.html (charts, self-contained) and report/report.xlsx (a sheet per
# canned question). make report [LAKE=dir] [REPORT_DIR=dir]
REPORT_DIR ?= report
report: $(STAMP)
	$(BIN)/python -m scripts.report --lake "$(LAKE)" --out "$(REPORT_DIR)"

# shared/domain/xarf_vocabulary.py is generated from the XARF schemas that the xarf package ships.
vocab: $(STAMP)
	$(BIN)/python -m scripts.gen_xarf_vocabulary > shared/domain/xarf_vocabulary.py
	$(BIN)/ruff format shared/domain/xarf_vocabulary.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Template and artifact gates (cfn-lint, sam validate, checkov, sam build), and the build target SAM calls.
include tools.mk
