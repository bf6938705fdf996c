# Issue 18, the Ray backend: tests/test_cluster_ray.py runs a real two-node Ray cluster on this
# machine. `make test` installs the extra into the venv first (pip, from the pinned version in
# pyproject.toml; ~30 s the first time, nothing once installed) and the cluster tests then cost
# ~45 s and ~1 GiB of memory while they run. Without the extra those tests are skipped.
RAY_STAMP := $(VENV)/.ray-installed

.PHONY: ray-extra test-ray
$(RAY_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[ray]'
	touch $@

ray-extra: $(RAY_STAMP)

# Only the cluster tests (they are also part of test-python).
test-ray: $(RAY_STAMP)
	$(BIN)/pytest tests/test_cluster_ray.py tests/test_cluster_units.py

TEST_TARGETS := ray-extra $(TEST_TARGETS)
test-python: ray-extra

# The Ray backend's bench rows (bench/ray_rows.py): ours against ray.get(f.remote()) and the Job
# Submission API, on the tests' two-node cluster. Not part of `make test` (it takes ~1-2 minutes).
.PHONY: bench-ray
bench-ray: $(RAY_STAMP)
	$(BIN)/python -m bench.ray_rows $(if $(QUICK),--quick)
