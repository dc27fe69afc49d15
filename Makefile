# Set-up and the two everyday jobs. Every target is idempotent and quick the second time.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup sweep zero-shot test lint docs clean

# venv + editable install (re-run when pyproject.toml changes), then WordNet and the toy world.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed
	$(BIN)/orch setup

sweep: setup
	$(BIN)/orch sweep search_spaces/cocoa.yaml

zero-shot: setup
	$(BIN)/orch zero-shot --dataset toyworld

test: setup
	$(BIN)/python -m pytest -q

docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(BIN)/.installed
	$(BIN)/ruff check orchestrator workers tests bench

clean:
	rm -rf $(VENV) .orch site
