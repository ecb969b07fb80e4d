# Quality gates on the template as AWS will see it, and the build of the one code artifact. Included by the Makefile.
#
#   make gates           all of the below
#   make template-lint   cfn-lint on infra/template.yaml and on its SAM-translated form (.aws-sam/translated.json)
#   make sam-validate    sam validate --lint
#   make checkov         checkov, a named list of checks: each must pass where it applies
#   make sam-build       sam build for python3.12/arm64 -> .aws-sam/build (hash-based .pyc included)
#   make template-test   the template and artifact tests (tests/template), after sam-build
#
# None of them talks to AWS: the tools get a dummy identity, no instance metadata and no telemetry.
# aws-sam-cli and checkov pin versions that clash with ours, so each lives in its own venv under .tools/, made on
# first use from a frozen requirements file in tests/template/ and remade when that file changes.

TOOLS := .tools
TOOLS_PYTHON ?= $(PYTHON)
SAM_VENV := $(TOOLS)/sam
CHECKOV_VENV := $(TOOLS)/checkov
SAM_STAMP := $(SAM_VENV)/.installed
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
SAM := $(SAM_VENV)/bin/sam
CHECKOV := $(CHECKOV_VENV)/bin/checkov

TEMPLATE := infra/template.yaml
TRANSLATED := .aws-sam/translated.json
SAM_BUILD_DIR := .aws-sam/build

# The functions run python3.12 on arm64, and the build runs python3.12 wherever scripts/preflight.sh finds it (pyenv
# with these versions, any 3.12 pyenv has, or PATH).
PYENV_PYTHONS ?= 3.11.7:3.12.1
LAMBDA_PYTHON ?= $(shell $(PREFLIGHT) --locate python3.12)
LAMBDA_PYTHON_VERSION := 3.12
LAMBDA_PLATFORM ?= manylinux2014_aarch64

OFFLINE_AWS := env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline \
	AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0

# Encryption of queues, DynamoDB PITR, S3 versioning and public access block, API Gateway tracing and access logs,
# function-level concurrency limits. A check whose resource type is absent does not run; one that runs must pass.
CHECKOV_CHECKS := CKV_AWS_21,CKV_AWS_27,CKV_AWS_28,CKV_AWS_53,CKV_AWS_54,CKV_AWS_55,CKV_AWS_56,CKV_AWS_73,CKV_AWS_76,CKV_AWS_115

.PHONY: gates template-lint sam-validate checkov sam-build template-test clean-tools

gates: template-lint sam-validate checkov sam-build template-test

# $(1): venv dir, $(2): frozen requirements. pip's output goes to a log, shown only when the install fails.
define make_tool_venv
	test -x $(1)/bin/python || $(TOOLS_PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip > $(1)/install.log 2>&1 \
		&& $(1)/bin/python -m pip install --quiet -r $(2) >> $(1)/install.log 2>&1 \
		|| { tail -n 40 $(1)/install.log; exit 1; }
	touch $(1)/.installed
endef

$(SAM_STAMP): tests/template/requirements-sam.txt
	$(call make_tool_venv,$(SAM_VENV),$<)

$(CHECKOV_STAMP): tests/template/requirements-checkov.txt
	$(call make_tool_venv,$(CHECKOV_VENV),$<)

$(TRANSLATED): $(TEMPLATE) tests/template/translate.py local/template.py $(STAMP)
	$(BIN)/python -m tests.template.translate $(TEMPLATE) $@

# Two warnings are about SAM's output, not our lines, and are ignored on the translated form only: W3005, a DependsOn
# that a Ref already implies (SAM writes those for usage plans and API keys), and W2001, a parameter not used (SAM
# substitutes some parameters' values as it translates, e.g. a usage plan's throttle). The SAM form is linted whole.
template-lint: $(STAMP) $(TRANSLATED)
	$(BIN)/cfn-lint $(TEMPLATE)
	$(BIN)/cfn-lint --ignore-checks W3005 W2001 -- $(TRANSLATED)

sam-validate: $(SAM_STAMP)
	$(OFFLINE_AWS) $(SAM) validate --lint --template-file $(TEMPLATE) --region us-east-1

# The SAM form (with SAM's Globals applied by checkov) and the translated form (the Stage, the Lambda functions and
# roles that SAM generates) are both scanned.
checkov: $(CHECKOV_STAMP) $(TRANSLATED)
	$(OFFLINE_AWS) $(CHECKOV) --compact --skip-download --framework cloudformation --check $(CHECKOV_CHECKS) \
		-f $(TEMPLATE)
	$(OFFLINE_AWS) $(CHECKOV) --compact --skip-download --framework cloudformation --check $(CHECKOV_CHECKS) \
		-f $(TRANSLATED)

# --build-in-source: the functions' CodeUri is the repo root, and SAM would otherwise copy all of it (venvs too)
# into a scratch dir before running the build target below.
sam-build: $(SAM_STAMP)
	PYENV_VERSION=$(PYENV_PYTHONS) $(OFFLINE_AWS) $(SAM) build --template-file $(TEMPLATE) \
		--build-dir $(SAM_BUILD_DIR) --build-in-source

template-test: $(STAMP) sam-build
	$(BIN)/python -m pytest -q tests/template

# SAM's `BuildMethod: makefile` runs `make build-<LogicalId>` here with ARTIFACTS_DIR set, once per function (or
# once for functions that share a build). The artifact: our two packages and the pinned runtime dependencies as
# aarch64/cp312 wheels, every module compiled to checked-hash .pyc so a cold start reads bytecode instead of
# compiling, and the pyc stays valid whatever timestamps the zip gives the sources.
build-%:
	test -n "$(ARTIFACTS_DIR)" || { echo "build-$*: run through sam build (ARTIFACTS_DIR unset)"; exit 1; }
	@test -n "$(LAMBDA_PYTHON)" || $(PREFLIGHT) python3.12
	mkdir -p "$(ARTIFACTS_DIR)"
	tar --exclude=__pycache__ --exclude='*.pyc' -cf - shared functions | tar -xf - -C "$(ARTIFACTS_DIR)"
	$(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile \
		--platform $(LAMBDA_PLATFORM) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) \
		--only-binary=:all: --target "$(ARTIFACTS_DIR)" -r requirements.txt
	rm -rf "$(ARTIFACTS_DIR)/bin"
	$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode checked-hash "$(ARTIFACTS_DIR)"

clean-tools:
	rm -rf $(TOOLS)
