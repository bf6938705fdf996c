"""Side-by-side benchmarks: each anchor and our path in the same run, alternating (`make bench`)."""
