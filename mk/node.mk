# The Node/TypeScript client (clients/node): npm ci installs the pinned devDependencies (typescript,
# @types/node) from package-lock.json, tsc builds src/ and test/ into dist/, and node's own test
# runner runs dist/test/*.test.js against live daemons that the tests start with the venv's Python.
NODE ?= node
NPM  ?= npm

.PHONY: test-node
test-node: $(STAMP)
	@command -v $(NODE) >/dev/null && command -v $(NPM) >/dev/null || \
		{ echo "test-node: node and npm (Node.js 20 or newer) are needed" >&2; exit 1; }
	cd clients/node && $(NPM) ci --no-audit --no-fund --loglevel=error && rm -rf dist && \
		./node_modules/.bin/tsc -p . && \
		SUPERVISORD_LITE_PYTHON=$(abspath $(BIN))/python $(NODE) --test --test-timeout=60000 dist/test/*.test.js

TEST_TARGETS += test-node
