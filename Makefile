# Two commands do all the set-up on a fresh machine, and are safe to run again:
#   make run   - install, migrate the database, build the search index, serve http://127.0.0.1:5000
#   make test  - the same set-up, then the whole test suite
#   make lint  - ruff check, ruff format --check and mypy (what CI runs before make test)
VENV   := .venv
PY     := $(VENV)/bin/python
KB     := $(VENV)/bin/kb
STAMP  := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test setup index browser lint bench clean

run: index
	$(KB) serve --host 127.0.0.1 --port 5000 --dev

test: index browser
	$(PY) -m pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: a CPU build lies on disk; an unpinned torch pulls a multi-GB GPU build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

index: setup
	$(KB) translations compile
	$(KB) db upgrade
	$(KB) models export
	$(KB) index

# What the tests drive for real, from Debian: headless Chromium (never a downloaded browser build),
# CJK fonts for Korean screenshots, and a PostgreSQL server the tests start in a temporary folder.
APT_NEEDS := chromium chromium-driver fonts-noto-cjk postgresql
browser:
	@missing=""; for p in $(APT_NEEDS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run apt-get install as root; their tests will be skipped)"; fi; fi

# The checks CI runs before the tests: lint rules, the formatter's layout (checked, never rewritten), types.
lint: setup
	$(VENV)/bin/ruff check kb tests bench
	$(VENV)/bin/ruff format --check kb tests bench
	$(VENV)/bin/mypy

bench: index
	$(PY) bench/search_latency.py

clean:
	rm -rf search_index/builds search_index/CURRENT
