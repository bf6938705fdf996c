# Issue 4, the protocol: protocol/openrpc.json is generated from the pydantic models and the method
# table (`make openrpc` rewrites it; tests/test_openrpc.py fails when it is out of date), and
# clients/shell/example.sh, tested by tests/test_shell_client.py, needs socat: installed here when
# missing (as root, with apt-get; the package lists are refreshed only when the install fails
# without them). Quiet and idempotent: a no-op once socat is there.
.PHONY: openrpc test-protocol-tools

openrpc: $(STAMP)
	$(BIN)/python -m supervisord_lite.rpc.openrpc protocol/openrpc.json

test-protocol-tools:
	@command -v socat >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "test-protocol-tools: socat missing; install it (needs root and apt-get), else tests/test_shell_client.py is skipped" >&2; \
		exit 0; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq socat >/dev/null 2>&1 \
	|| { apt-get update -qq >/dev/null && apt-get install -y -qq socat >/dev/null; } \
	|| { echo "test-protocol-tools: could not install socat" >&2; exit 1; }

# Before the tests that need it, also under make -j.
TEST_TARGETS := test-protocol-tools $(TEST_TARGETS)
test-python: test-protocol-tools
