PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-postgres postgres lint format bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/leadhook serve --demo --host 127.0.0.1 --port 8000

# The console's browser tests drive Debian's chromium through playwright (never
# `playwright install`). Installed here when missing and apt-get can run (as root);
# otherwise those tests are skipped (and fail under CI=true).
CHROMIUM := /usr/bin/chromium

chromium:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
		|| echo "chromium is not installed (apt-get install chromium, as root): browser tests skipped"; }

# The Postgres leg runs on $$LEADHOOK_TEST_PG_DSN, or on a throwaway cluster the session
# starts itself when initdb/pg_ctl are installed (Debian's postgresql package); otherwise it
# is skipped, and the summary says so ("postgres leg: SKIPPED ...").
test: $(STAMP) chromium
	$(BIN)/python -m pytest

# Postgres installed when missing (as root), a throwaway cluster on 127.0.0.1 around the suite.
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; } \
		|| echo "PostgreSQL is not installed (apt-get install postgresql, as root)"; }

test-postgres: $(STAMP) chromium postgres
	$(BIN)/python -m tests.pg_cluster -- $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
