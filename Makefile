# gancli: `make help` lists the targets. Everything runs in a local virtual environment (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install train test test-slow lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install gancli with its test tools (editable)

train: $(STAMP) ## install, then train the default run (GAN on the 8-Gaussian ring, about a minute)
	$(BIN)/gancli train

test: $(STAMP) ## install, then run the fast test suite (a few minutes)
	$(BIN)/python -m pytest

test-slow: $(STAMP) ## run the slow tests: sweeps, kills, and a wheel installed into a fresh environment
	$(BIN)/python -m pytest -m slow

lint: $(STAMP) ## ruff over the package and the tests
	$(BIN)/ruff check gancli tests

clean: ## remove the virtual environment and build files (keeps outputs/)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
