# Quick start: `make run` (the whole job on the local cloud) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint clean build check-deploy bench reliability

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# `make run INPUT=examples/provision-own-ca.json`: the same with your own CA (README "Your own CA")
INPUT ?= examples/provision.json
run: $(STAMP)
	$(BIN)/albmtls provision -f $(INPUT) $(if $(PORT_OFFSET),--port-offset $(PORT_OFFSET))

# The whole suite, three pytest-xdist workers (pyproject.toml's addopts say why).
test: lint
	$(BIN)/python -m pytest

# The layers (import-linter contracts), ruff's rules and mypy (strict on shared/ and functions/): all
# configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .albmtls .albmtls-observe out out-passwords build

build: $(STAMP)
	$(BIN)/python deploy/build.py

# The function role is compared with the calls of the observed run (deploy/observe.py: provision,
# an update, a rotation, the fleet functions) on a fresh local cloud, not with `make run`'s state.
check-deploy: $(STAMP)
	rm -rf .albmtls-observe
	$(BIN)/python -m deploy.observe --state-dir .albmtls-observe > /dev/null
	$(BIN)/albmtls check-deploy --state-dir .albmtls-observe

bench: $(STAMP)
	$(BIN)/python -m bench --json bench-report.json

reliability: $(STAMP)
	$(BIN)/python -m reliability --runs 100 --rotations 20 --revokes 10 --prunes 10 --rate 0.2 --seed 1 --write-doc docs/RELIABILITY.md
