# The Go client (clients/go): go vet, then its tests against a live daemon that TestMain starts
# with the venv's interpreter. Standard library only: no module download, no GOFLAGS needed.
GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)

.PHONY: test-go
test-go: $(STAMP)
	cd clients/go && export SUPERVISORD_LITE_PYTHON=$(abspath $(BIN))/python && \
		$(GO) vet ./... && $(GO) test -count=1 -timeout 120s ./...

TEST_TARGETS += test-go
