# Every target bootstraps what it needs on a fresh machine: .venv (the CDK app, tools and infra tests),
# .venv-ml (ml_code at the container's versions, on Python 3.10) and node_modules (the pinned CDK CLI).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
ML_VENV := .venv-ml
PYTHON ?= python3
# The container runs Python 3.10: the first candidate that really is 3.10 (pyenv's shims on PATH may not run).
PYTHON310 ?= $(shell for candidate in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 \
	$$(command -v python3.10); do "$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' \
	2>/dev/null && echo "$$candidate" && break; done)
REQUIRE_PYTHON310 = @test -n "$(PYTHON310)" || { echo "make: no Python 3.10 found (the container's version); install it or pass PYTHON310=/path/to/python3.10" >&2; exit 1; }
# The offline environment of every target but deploy (one list, shared with the tests: offline.env).
OFFLINE := env $(shell sed -e '/^[[:space:]]*\#/d' -e '/^[[:space:]]*$$/d' offline.env)
PIP_FLAGS := --quiet --disable-pip-version-check
STAGE ?=

DEMO_DIR := work/demo
DEMO_ROWS ?= 20000

.PHONY: help venv venv-ml lock demo test lint docs schema synth golden definition diff deploy deploy-serving destroy deploy-cicd upload-source clean require-stage

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Locked environments: locks/platform.txt (.venv) and locks/ml.txt (.venv-ml), resolved by uv from the pins in
# requirements.txt and tests/requirements-ml.txt (which reads ml_code/requirements.txt), every file with its hashes;
# locks/tracking.txt, the AWS logging build's (tracking/requirements.txt), at the platform lock's versions.
# `make lock` re-resolves them; every other target installs exactly what they hold.
UV_VERSION := $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' locks/platform.txt)
UV := $(VENV)/bin/uv
UV_SYNC := $(UV) pip sync --quiet --require-hashes
UV_COMPILE := $(UV) pip compile --quiet --universal --generate-hashes --custom-compile-command 'make lock'

$(VENV)/.installed: locks/platform.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) uv==$(UV_VERSION)
	$(UV_SYNC) --python $(VENV)/bin/python locks/platform.txt
	touch $@

# The serving toolkit the XGBoost container pins (aws/sagemaker-xgboost-container's requirements.txt).
SERVING_TOOLKIT := sagemaker-containers==2.8.6.post2
$(ML_VENV)/.installed: locks/ml.txt $(VENV)/.installed
	$(REQUIRE_PYTHON310)
	$(UV) venv --quiet --allow-existing --python $(PYTHON310) $(ML_VENV)
	$(UV_SYNC) --python $(ML_VENV)/bin/python locks/ml.txt
	# the container's serving toolkit, installed as its Dockerfile does: no dependencies (they pin Flask 1.1.1),
	# and collections.Mapping patched for Python 3.10
	$(UV) pip install --quiet --python $(ML_VENV)/bin/python --no-deps $(SERVING_TOOLKIT)
	sed -i 's/collections\.Mapping/collections.abc.Mapping/g' $(ML_VENV)/lib/python3.10/site-packages/sagemaker_containers/_mapping.py
	touch $@

lock: $(VENV)/.installed ## re-resolve locks/ from requirements.txt, tests/requirements-ml.txt, tracking/requirements.txt (needs the package index)
	$(REQUIRE_PYTHON310)
	$(UV_COMPILE) --python $(VENV)/bin/python requirements.txt -o locks/platform.txt
	$(UV_COMPILE) --python $(VENV)/bin/python tracking/requirements.txt --constraint locks/platform.txt -o locks/tracking.txt
	cd tests && ../$(UV_COMPILE) --python $(PYTHON310) requirements-ml.txt -o ../locks/ml.txt

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

venv: $(VENV)/.installed ## the CDK app's environment (.venv): CDK, SageMaker SDK, Spark, tests; local_mode runs here

venv-ml: $(ML_VENV)/.installed ## the ML environment (.venv-ml, the container's versions): local mode runs the steps with it

lint: $(VENV)/.installed ## ruff lint and format check over the whole tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: $(VENV)/.installed $(ML_VENV)/.installed ## the whole loop: ETL, pipeline, registry, endpoint, capture, monitor, alarm, retrain
	rm -rf $(DEMO_DIR)
	$(OFFLINE) $(VENV)/bin/python -m local_mode demo --workdir $(DEMO_DIR) --rows $(DEMO_ROWS)

# ml_code runs at the container's versions (.venv-ml); the rest with the CDK app (.venv). Local mode runs in .venv
# and its steps in .venv-ml, as a data scientist runs it.
ML_TESTS := tests/ml_code
# The tests run in a network namespace with loopback only where the OS allows it (tests/offline/isolated).
ISOLATED := tests/offline/isolated
# REPORTS=<dir> writes both runs' JUnit reports there (the commit pipeline keeps them). The platform suite runs on
# two workers (pytest-xdist); tests/conftest.py keeps the tests that share a session's fixtures together and
# starts the longest groups first.
REPORTS ?=
test: lint $(VENV)/.installed $(ML_VENV)/.installed ## ruff + every test, offline
	$(OFFLINE) $(ISOLATED) $(VENV)/bin/pytest -n 2 --dist loadgroup --no-loadscope-reorder tests $(addprefix --ignore=,$(ML_TESTS)) $(if $(REPORTS),--junitxml=$(REPORTS)/platform.xml)
	$(OFFLINE) $(ISOLATED) $(ML_VENV)/bin/pytest $(ML_TESTS) $(if $(REPORTS),--junitxml=$(REPORTS)/ml_code.xml)

docs: $(VENV)/.installed ## the documentation site (docs/, mkdocs.yml) into build/site, offline; any warning fails it
	$(OFFLINE) $(VENV)/bin/mkdocs build --strict --quiet

schema: $(VENV)/.installed ## write the config's JSON Schemas (schema/) and docs/configuration-reference.md from its models
	$(OFFLINE) $(VENV)/bin/python -m blueprint.config_schema

synth: $(VENV)/.installed node_modules/.installed ## synthesize every stage (or STAGE=dev) into cdk.out, offline
	$(OFFLINE) npx cdk synth --no-notices --quiet $(if $(STAGE),-c stage=$(STAGE))

CONTRACT ?= customer-churn
definition: $(VENV)/.installed ## export the pipeline definition local mode runs (CONTRACT=...) to work/definition/
	$(OFFLINE) $(VENV)/bin/python -m local_mode definition --contract $(CONTRACT) --output work/definition

golden: $(VENV)/.installed ## regenerate the golden pipeline definitions (tests/infra/golden/) after a reviewed change
	$(OFFLINE) $(VENV)/bin/python -m tests.infra.golden.regenerate

require-stage:
	@test -n "$(STAGE)" || { echo "make: say which stage, e.g. make $(MAKECMDGOALS) STAGE=dev" >&2; exit 1; }

# Every stack of the app synthesized with `-c stage=<stage>`: that stage's, and nothing else (not the CI/CD stack).
STAGE_STACKS = '*'
diff: require-stage $(VENV)/.installed node_modules/.installed ## what a deploy of STAGE=<stage> would change (cdk diff; reads the deployed stacks)
	CDK_DISABLE_CLI_TELEMETRY=true npx cdk diff --no-notices -c stage=$(STAGE) $(STAGE_STACKS)

destroy: require-stage $(VENV)/.installed node_modules/.installed ## delete STAGE=<stage>'s stacks (asks first); keys, data and the registry stay, see README
	CDK_DISABLE_CLI_TELEMETRY=true npx cdk destroy --no-notices -c stage=$(STAGE) $(STAGE_STACKS)

# The ServingStack serves an Approved package named at deploy time: deployed only with MODEL_PACKAGE_ARN.
MODEL_PACKAGE_ARN ?=
CDK_DEPLOY := CDK_DISABLE_CLI_TELEMETRY=true npx cdk deploy --no-notices --require-approval broadening
deploy: require-stage $(VENV)/.installed node_modules/.installed ## deploy STAGE=<stage> (and its endpoint: MODEL_PACKAGE_ARN=<arn>), see README
	$(CDK_DEPLOY) -c stage=$(STAGE) '*Data' '*ModelBuild' '*Monitoring'
	$(if $(MODEL_PACKAGE_ARN),$(MAKE) deploy-serving)

deploy-serving: $(VENV)/.installed node_modules/.installed ## serve MODEL_PACKAGE_ARN=<arn> in STAGE=<stage> without the deploy pipeline (a rollback)
	@test -n "$(STAGE)" -a -n "$(MODEL_PACKAGE_ARN)" || { echo "make: say the stage and the Approved package, e.g. make deploy-serving STAGE=prod MODEL_PACKAGE_ARN=arn:..." >&2; exit 1; }
	$(CDK_DEPLOY) -c stage=$(STAGE) --exclusively '*Serving' --parameters ModelPackageArn=$(MODEL_PACKAGE_ARN)

deploy-cicd: $(VENV)/.installed node_modules/.installed ## deploy the CI/CD pipelines once (they update themselves after), see README
	$(CDK_DEPLOY) Cicd

upload-source: $(VENV)/.installed ## without a git connection: upload HEAD to the CI/CD source bucket, which starts the commit pipeline
	$(VENV)/bin/python -m infra.upload_source

clean: ## remove the environments and build outputs
	rm -rf $(VENV) $(ML_VENV) node_modules cdk.out work build
