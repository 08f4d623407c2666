# The two set-up commands of the README:
#   make demo   creates .venv, installs certcensus, runs the built-in demo census
#   make test   installs everything the tests need (Debian packages included) and runs them
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test debian-packages bench clean

demo: install
	$(BIN)/certcensus demo

test: debian-packages install-test
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { ./scripts/install-debian-packages.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

debian-packages:
	./scripts/install-debian-packages.sh

bench: debian-packages install
	$(BIN)/python bench/bench_probe.py

clean:
	rm -rf $(VENV) build src/*.egg-info
