# Two commands do all the set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test evaluate bench lint format chromium clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when a requirements file changes.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`).
chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium chromium-driver >/dev/null; }

demo: $(VENV)/.runtime  ## the demo store on embedded PostgreSQL/pgvector and Redis
	$(BIN)/python manage.py demo $(ARGS)

test: $(VENV)/.dev chromium lint  ## the code checks, then the whole test suite
	$(BIN)/pytest $(ARGS)

# The demo's data with every photo embedded (the demo stops once they all are), then the evaluation.
evaluate: $(VENV)/.runtime  ## offline evaluation: time split on H&M, precision@6 on Fashion Product Images
	$(BIN)/python manage.py demo --no-serve --first-slice 1000000
	$(BIN)/python manage.py evaluate $(ARGS)

bench: $(VENV)/.dev  ## embedding throughput: bare model vs the full worker path
	$(BIN)/python benchmarks/embedding_throughput.py $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: $(VENV)/.dev
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean-data:  ## forget the demo's database, queue and media (stop the demo first)
	rm -rf .data staticfiles
