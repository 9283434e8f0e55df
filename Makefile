# Caducée: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install node-deps browser-deps bench lint format lock serve messages clean

## Install (reproducibly, from the hashed lock file), migrate, seed the demo and serve on :8000.
run: install
	IDP_DEBUG=$${IDP_DEBUG-1} $(BIN)/python manage.py migrate --no-input
	IDP_DEBUG=$${IDP_DEBUG-1} $(BIN)/python manage.py seed_demo
	IDP_DEBUG=$${IDP_DEBUG-1} IDP_TEST_LOGIN=$${IDP_TEST_LOGIN-1} $(BIN)/python manage.py runserver $(HOST):$(PORT)

## Run the whole test suite (SQLite by default; PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set).
test: install node-deps browser-deps
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

## The relying-party library the interoperability tests drive (openid-client), when npm is here.
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/interop/node --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the openid-client interoperability test will be skipped"; fi

## Debian's chromium for tests/browser/ (Playwright drives it; it downloads no browser of its own).
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium not found (as root: apt-get install chromium): the browser tests will be skipped"; fi

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Caducée needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

## Production-style server (granian, see deploy/); refuses to start on an unsafe configuration.
serve: install
	$(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/granian --interface wsgi --host $(HOST) --port $(PORT) --workers 2 --blocking-threads 2 idp.wsgi:application

## Benchmark Caducée against node-oidc-provider (PostgreSQL, Redis, wrk, Node): docs/benchmarks.md
bench: install
	npm ci --prefix bench/peer --no-audit --no-fund --loglevel=error
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install
	$(BIN)/python -m ruff check .

format: install
	$(BIN)/python -m ruff check --fix .
	$(BIN)/python -m ruff format .

## Recompile the lock file after changing dependencies in pyproject.toml (needs `uv`).
lock:
	uv pip compile pyproject.toml requirements/build.in --extra dev --generate-hashes --universal --python-version 3.11 -o requirements.lock

## Refresh locale/fr from the source, then compile it (needs GNU gettext); translate the new msgids.
messages: install
	$(BIN)/python manage.py makemessages --locale fr --no-wrap --ignore ".venv/*" --ignore "var/*" --ignore "tests/*"
	$(BIN)/python manage.py compilemessages --locale fr --ignore ".venv/*"

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
