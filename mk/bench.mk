# Issue 5, speed: `make bench` runs every anchor and our path side by side, alternating, and prints
# medians and ours/anchor ratios (bench/README.md has one run's table). `make bench QUICK=1` is a
# short smoke run (tests/test_bench_quick.py runs it). bench/.venv holds supervisord, from PyPI, for
# its figures; everything else runs in the project's venv. Not part of `make test`'s targets.
BENCH_VENV  := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed
SUPERVISOR_VERSION ?= 4.3.0

.PHONY: bench

# A failed install (no registry) is not fatal: the bench then says supervisord was not measured.
$(BENCH_STAMP):
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@if $(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check \
		'supervisor==$(SUPERVISOR_VERSION)'; then touch $@; \
	else echo "bench: supervisor could not be installed; its figures will be skipped" >&2; fi

bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick) --supervisord $(BENCH_VENV)/bin/supervisord
