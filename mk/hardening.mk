# Issue 17, hardening. `make test` runs bounded slices: tests/test_fuzz.py (a fixed seed, 1000
# examples) and tests/test_fairness.py (each misbehaving client against a probe, asserting what must
# hold, not speed). These run longer campaigns: `make fuzz` (FUZZ_EXAMPLES, FUZZ_SEED) and
# `make stress` (the probe's p50/p99 while each misbehaver runs, STRESS_SECONDS each).
FUZZ_EXAMPLES  ?= 50000
FUZZ_SEED      ?= 17
STRESS_SECONDS ?= 10

.PHONY: fuzz stress

fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) $(BIN)/pytest -q tests/test_fuzz.py

stress: $(STAMP)
	$(BIN)/python -m tests.misbehave --seconds $(STRESS_SECONDS)
