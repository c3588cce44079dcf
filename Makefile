# pushwire: `make demo` runs the demo, `make test` runs every test (what CI runs).
GO       ?= go
FUZZTIME ?= 30s
WSTEST   ?= wstest
export WSTEST

.PHONY: test test-cluster vet lint demo fuzz bench autobahn soak

test: vet
	$(GO) test -race -count=1 ./...
	@if command -v qemu-aarch64 >/dev/null 2>&1; then echo "== arm64 under qemu"; \
		GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64 ./mask ./internal/utf8check ./frame; fi
	@for m in fuzz bench natsbroker; do [ -f $$m/go.mod ] || continue; \
		echo "== $$m module"; (cd $$m && $(GO) vet ./... && $(GO) test -count=1 ./...) || exit 1; done

# The multi-process acceptance run: three NATS servers, three pushnode
# processes behind a balancer, one killed midway (natsbroker/process_test.go).
test-cluster:
	cd natsbroker && PUSHWIRE_CLUSTER=1 $(GO) test -race -count=1 -run TestProcesses -timeout 10m ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# gofmt and vet (vet runs with make test too), staticcheck pinned by the tool
# directive in go.mod (the same version in the nested modules, which do not
# list it), and go.mod/go.sum tidy in every module.
lint: vet
	$(GO) tool staticcheck ./...
	@sc=honnef.co/go/tools/cmd/staticcheck@$$($(GO) list -m -f '{{.Version}}' honnef.co/go/tools); \
	for m in . fuzz bench natsbroker; do (cd $$m && $(GO) vet ./... && $(GO) mod tidy -diff && \
		{ [ $$m = . ] || $(GO) run $$sc ./...; }) || { echo "lint: $$m"; exit 1; }; done

demo:
	GODEBUG=$${GODEBUG:+$$GODEBUG,}http2xconnect=1 $(GO) run ./demo -addr 127.0.0.1:8080 $(ARGS)

# Every fuzz target for FUZZTIME each, in this module and in fuzz/.
fuzz:
	@set -e; for dir in $$($(GO) list -f '{{.Dir}}' ./...) $$(cd fuzz 2>/dev/null && $(GO) list -f '{{.Dir}}' ./...); do \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
			echo "== $$dir $$t"; (cd $$dir && $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) .) || exit 1; \
		done; done

bench:
	cd bench && $(GO) run ./cmd/report

autobahn:
	./autobahn/run.sh both

soak:
	$(GO) run ./soak -conns 10000 -duration 60s
