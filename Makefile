# The README's two commands: `make run` (set up, validate, train, register, promote, serve)
# and `make test` (set up, run the whole test suite).
PY := .venv/bin/python
CONFIG ?= experiments/configs/default.yaml
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run validate train promote serve test lint

setup:
	bash scripts/setup.sh

validate: setup
	$(PY) -m labels validate --strict

train: validate
	$(PY) -m training train $(CONFIG)

promote: setup
	$(PY) -m training promote

run: train promote
	$(PY) -m serving

test: setup
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check labels training serving tests
