# The README's two commands: `make run` (set up, validate, train, register, promote, serve)
# and `make test` (set up, run the whole test suite).
PY := .venv/bin/python
CONFIG ?= experiments/configs/default.yaml
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run validate train promote serve test lint ui sweep report retrain smoke benchmark benchmark-serving reliability audit score tracking-server label-studio

setup:
	bash scripts/setup.sh

validate: setup
	$(PY) -m labels validate --strict

train: validate
	$(PY) -m training train $(CONFIG)

# exit 3 means "candidate lost by the selection rule, champion kept": not an error for the workflow
promote: setup
	$(PY) -m training promote || [ $$? -eq 3 ]

run: train promote
	$(PY) -m serving

test:
	bash scripts/setup.sh --browser --postgres --label-studio
	$(PY) -m ruff check $(LINTED)
	$(PY) -m pytest -q
	$(PY) scripts/audit.py

LINTED := labels stance_model training serving scoring tests experiments scripts

# the team tracking server: PostgreSQL + mlflow server on 127.0.0.1 (scripts/tracking_server.sh stop|status)
tracking-server:
	bash scripts/setup.sh --postgres
	bash scripts/tracking_server.sh start

# score an archive with the champion: make score INPUT=articles.jsonl OUT=scored/ (rerun to resume);
# SCORE_ARGS passes options, e.g. SCORE_ARGS="--engine spark --master local[2]"
score: setup
	$(PY) -m scoring score $(INPUT) --out $(OUT) $(SCORE_ARGS)

# Label Studio for the annotation loop (docs/annotation.md) on http://127.0.0.1:8080 (loopback only), its data
# in var/label-studio; LABEL_STUDIO_USERNAME and LABEL_STUDIO_PASSWORD at the first start create that user
label-studio:
	bash scripts/setup.sh --label-studio
	bash scripts/label_studio.sh

lint: setup
	$(PY) -m ruff check $(LINTED)

# MLflow UI on the embedded store at http://127.0.0.1:5000
ui: setup
	$(PY) -m mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

# make sweep SWEEP=experiments/sweeps/baselines.yaml
SWEEP ?= experiments/sweeps/baselines.yaml
sweep: validate
	$(PY) -m training sweep $(SWEEP)

report: setup
	$(PY) -m training compare --experiment stance-framing --out experiments/reports

# Retrain after new annotations: validate, train, promote only if the candidate wins by the selection rule, tell the service to reload.
retrain: setup
	bash scripts/retrain.sh $(CONFIG)

benchmark: setup
	$(PY) experiments/benchmarks/train_speed.py

benchmark-serving: setup
	$(PY) experiments/benchmarks/serving.py

# hostile input, 5-minute soak, past capacity, access checks, audit, fault tests -> RELIABILITY.md
reliability: setup
	$(PY) experiments/benchmarks/reliability.py

audit: setup
	$(PY) scripts/audit.py
