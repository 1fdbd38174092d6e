# videogen: two commands set everything up on a fresh machine: `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# uv installs from its cache by linking, so a fresh clone gets torch & co. in seconds after the first time.
UV := $(BIN)/uv
EXTRAS := api,operator,runner,dev
STAMP := $(VENV)/.installed

.PHONY: help venv controlplane up down status logs reset test lint fmt crds images

VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

help:
	@echo "make up        start the local system (control plane, GPU-pool node, S3, CRDs); API on 127.0.0.1:8080 once it lands"
	@echo "make down      stop all of it"
	@echo "make test      lint and run every test (starts what it needs)"
	@echo "make status | logs | reset"
	@echo "make crds      regenerate crds/ and the chart's CRDs from common/videogen_common/resources/"
	@echo "make images    build the api, operator and runner images (needs a Docker engine)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install -q 'uv==0.13.8'
	$(UV) pip install --python $(BIN)/python -q -e '.[$(EXTRAS)]'
	@touch $@

venv: $(STAMP)

controlplane:
	@dev/build-control-plane.sh

up: venv controlplane
	@$(BIN)/videogen-dev up

down:
	@test -x $(BIN)/videogen-dev && $(BIN)/videogen-dev down || true

status logs reset: venv
	@$(BIN)/videogen-dev $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

crds: venv
	@$(BIN)/videogen-dev crds --write

test: venv controlplane lint
	@dev/run-tests.sh $(PYTEST_ARGS)

# Container images (needs a Docker engine, which this development machine does not have).
images:
	for c in api operator runner; do docker build -f $$c/Dockerfile -t videogen/$$c:$(VERSION) . || exit 1; done
