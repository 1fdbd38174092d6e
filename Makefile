# videogen: two commands set everything up on a fresh machine: `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# uv installs from its cache by linking, so a fresh clone gets torch & co. in seconds after the first time.
# Its version is pinned here and in the Dockerfiles (a test keeps them equal).
UV_VERSION := 0.13.8
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
# uv.lock pins every dependency of every component; the venv and the images install exactly that.
LOCK_CHECK = $(UV) lock --check --quiet || { echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock" >&2; exit 1; }

.PHONY: help venv lock lock-check controlplane browser up down status logs reset test lint fmt crds images

help:
	@echo "make up        build the images and start the local system (control plane, GPU-pool node running the pods as containers, S3, CRDs, the chart); API on 127.0.0.1:8080"
	@echo "make down      stop all of it"
	@echo "make test      lint and run every test (starts what it needs)"
	@echo "make status | logs | reset"
	@echo "make crds      regenerate crds/ and the chart's CRDs from common/videogen_common/resources/"
	@echo "make images    build the api, operator and runner images (Docker if it answers, else podman)"
	@echo "make lock      update uv.lock after changing a dependency in pyproject.toml"

$(UV): Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@[ "$$($(UV) --version 2>/dev/null | cut -d' ' -f2)" = $(UV_VERSION) ] || $(BIN)/pip install -q 'uv==$(UV_VERSION)'
	@touch $@

# Every extra (api, operator, runner, dev) at the lock's versions, and the project itself editable.
$(STAMP): pyproject.toml uv.lock $(UV)
	@$(LOCK_CHECK)
	$(UV) export --quiet --locked --all-extras --no-emit-project --format requirements-txt -o $(VENV)/requirements.txt
	$(UV) pip install --python $(BIN)/python -q -r $(VENV)/requirements.txt
	$(UV) pip install --python $(BIN)/python -q --no-deps -e .
	@touch $@

venv: $(STAMP)

# After changing a dependency in pyproject.toml: re-resolve, then commit uv.lock.
lock: $(UV)
	$(UV) lock

lock-check: $(UV)
	@$(LOCK_CHECK)

controlplane:
	@dev/build-control-plane.sh

# Debian's chromium for the /ui browser test (apt, only when missing).
browser:
	@dev/install-browser.sh

up: venv controlplane
	@$(BIN)/videogen-dev up

down:
	@test -x $(BIN)/videogen-dev && $(BIN)/videogen-dev down || true

status logs reset: venv
	@$(BIN)/videogen-dev $@

lint: venv lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

crds: venv
	@$(BIN)/videogen-dev crds --write

test: venv controlplane browser lint
	@dev/run-tests.sh $(PYTEST_ARGS)

# videogen/{api,operator,runner}:<version in pyproject.toml> with Docker when its engine answers, else podman on a local base
# (dev/videogen_dev/container_images.py); `make images IMAGES=api` builds one.
images: venv
	@$(BIN)/python -m videogen_dev.container_images $(IMAGES)
