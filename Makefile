# The two set-up commands of the README:
#   make demo   creates .venv, installs certcensus, runs the built-in demo census
#   make test   installs everything the tests need (Debian packages included) and runs them
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint test-pythons install install-test debian-packages bench bench-differential clean man

demo: install
	$(BIN)/certcensus demo

test: debian-packages install-test lint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Style, types and the one-way stage contract (pyproject.toml configures each).
lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV) || { ./scripts/install-debian-packages.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

debian-packages:
	./scripts/install-debian-packages.sh

bench: debian-packages install
	$(BIN)/python bench/bench_probe.py

# The lenient verdict against `openssl verify` on 10,000 random chains (bench/RESULTS.md).
bench-differential: debian-packages install
	$(BIN)/python bench/bench_differential.py

clean:
	rm -rf $(VENV) build src/*.egg-info

# certcensus(1), generated from the click commands; commit the result (a test compares).
man: install
	$(BIN)/python -m certcensus.cli.manpage > man/certcensus.1

# The suite under every supported Python found on this machine (3.11 to 3.13), each in its own
# virtual environment; versions that are not installed are skipped, and said so.
PYTHONS ?= python3.11 python3.12 python3.13
test-pythons: debian-packages
	@for python in $(PYTHONS); do \
	  if ! command -v $$python >/dev/null 2>&1 || ! $$python -c 'import sys' >/dev/null 2>&1; then \
	    echo "skipped: $$python is not installed"; continue; fi; \
	  $$python -m venv .venv-$$python && \
	  .venv-$$python/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]' && \
	  .venv-$$python/bin/python -m pytest -q -p no:cacheprovider || exit 1; \
	done
