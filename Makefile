# Two commands do all the set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: nginx demo demo-walk test evaluate evaluate-two-years bench bench-http bench-ingest bench-scale bench-events bench-als lint format chromium wrk clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when a requirements file changes. --no-cache-dir: torch's CUDA wheels are several GB,
# and a cached copy beside the installed one doubled the disk the install needs (a CI machine ran out).
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --no-cache-dir -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --no-cache-dir -r requirements-dev.txt
	touch $@

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`).
chromium:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium chromium-driver >/dev/null; }

# Debian's nginx, the load balancer of the multi-host test (tests/test_multihost.py, deploy/multihost.py).
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing Debian's nginx for the multi-host test..."; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq nginx >/dev/null; }

demo: $(VENV)/.runtime  ## the demo store on embedded PostgreSQL/pgvector and Redis
	$(BIN)/python manage.py demo $(ARGS)

test: $(VENV)/.dev chromium nginx lint  ## the code checks, then the whole test suite
	$(BIN)/pytest $(ARGS)

# The yardstick: the H&M catalog with every photo embedded and one real week of purchases, in a data
# folder of its own (.data/hm-week), then the time split of issue 11 (train 09-16..18, test 09-19..20,
# every product in stock), every strategy, all / returning / new shoppers, with paired intervals.
WEEK_DATA := $(CURDIR)/.data/hm-week
evaluate: $(VENV)/.runtime  ## offline evaluation on ../shared/data/hm-week (make evaluate-two-years: the demo's data)
	STOREFRONT_DATA_DIR=$(WEEK_DATA) $(BIN)/python manage.py demo --no-serve --first-slice 1000000 \
	  --interactions ../shared/data/hm-week
	STOREFRONT_DATA_DIR=$(WEEK_DATA) $(BIN)/python manage.py evaluate --test-days 2 --until 2020-09-20 \
	  --all-in-stock --no-tune --promote-new-days 1 $(ARGS)

# The demo's two years of 1,364 customers: four test weeks, tuning, precision@6, discovery, the map.
evaluate-two-years: $(VENV)/.runtime
	$(BIN)/python manage.py demo --no-serve --first-slice 1000000
	$(BIN)/python manage.py evaluate $(ARGS)

# The demo through a shopper's eyes in Chromium (issue 41), against a running `make demo`.
DEMO_URL ?= http://127.0.0.1:8000
demo-walk: $(VENV)/.dev chromium
	DEMO_URL=$(DEMO_URL) $(BIN)/pytest tests/demo -p no:randomly $(ARGS)

bench: $(VENV)/.dev  ## embedding throughput: bare model vs the full worker path
	$(BIN)/python benchmarks/embedding_throughput.py $(ARGS)

# Debian's wrk, the load generator of bench-http.
wrk:
	@command -v wrk >/dev/null || { \
	  echo "Installing Debian's wrk for the load benchmark..."; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq wrk >/dev/null; }

bench-http: $(VENV)/.dev wrk  ## the store over HTTP under load (gunicorn as the demo runs it, wrk) on .data/hm-week
	$(BIN)/python benchmarks/http_load.py --data $(WEEK_DATA) $(ARGS)

bench-ingest: $(VENV)/.dev wrk  ## events/s through POST /api/v1/events/, then a count: none lost, none doubled
	$(BIN)/python benchmarks/event_ingest.py --data $(WEEK_DATA) $(ARGS)

bench-scale: $(VENV)/.dev  ## 1M synthetic products from the real embeddings: HNSW build, filtered queries, recall, homepage
	$(BIN)/python benchmarks/catalog_scale.py $(ARGS)

bench-events: $(VENV)/.dev  ## 10M synthetic purchases over the 1M catalog (bench-scale first): import, ALS, rankers, memory
	$(BIN)/python benchmarks/event_scale.py $(ARGS)

bench-als: $(VENV)/.dev  ## ALS's fit on 10M synthetic purchases in memory: implicit's fit against the store's, one run
	$(BIN)/python benchmarks/als_fit.py $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: $(VENV)/.dev
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean-data:  ## forget the demo's database, queue and media (stop the demo first)
	rm -rf .data staticfiles
