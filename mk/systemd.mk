# Issue 6, running under systemd: tests/test_systemd.py checks the unit files with systemd-analyze
# and runs the daemon under systemd-socket-activate. Both come with Debian's `systemd` package,
# installed here when missing (as root, with apt-get; the package lists are refreshed only when the
# install fails without it). Quiet and idempotent: a no-op once the tools are there.
SYSTEMD_TOOLS := systemd-analyze systemd-socket-activate

.PHONY: test-systemd-tools
test-systemd-tools:
	@missing=; for t in $(SYSTEMD_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "test-systemd-tools:$$missing missing; install the systemd package (needs root and apt-get), else their tests are skipped" >&2; \
		exit 0; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq -o Dpkg::Use-Pty=0 systemd >/dev/null 2>&1 \
	|| { apt-get update -qq >/dev/null && apt-get install -y -qq -o Dpkg::Use-Pty=0 systemd >/dev/null; } \
	|| { echo "test-systemd-tools: could not install the systemd package" >&2; exit 1; }

# Before the tests that need the tools, also under make -j.
TEST_TARGETS := test-systemd-tools $(TEST_TARGETS)
test-python: test-systemd-tools
