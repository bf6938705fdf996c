# The two commands of the README: `make run` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SOCKET ?=

.PHONY: run test install lint typecheck test-python

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]' -e clients/python
	touch $@

install: $(STAMP)

# Serve in the foreground on the default socket (or SOCKET=path).
run: $(STAMP)
	$(BIN)/supervisord-lite serve $(if $(SOCKET),--socket $(SOCKET))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test-python: $(STAMP)
	$(BIN)/pytest

# Each capability adds its own test target in mk/<name>.mk (TEST_TARGETS += ...).
TEST_TARGETS := lint typecheck test-python
include $(wildcard mk/*.mk)

test: $(TEST_TARGETS)
