# gorseq: `make test` is the full verification matrix CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...

.PHONY: all test test-unit test-cgo test-nocgo test-glibc-off test-purego test-race vet check-generated generate bench demo

all: test

# The README's test command. Every build mode, race detector, vet for both
# architectures, generated-code drift.
test: vet check-generated test-nocgo test-cgo test-glibc-off test-purego test-race

demo:
	$(GO) run ./tools/rseqinfo

vet:
	test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt needed'; exit 1; }
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) vet $(PKGS)
	GOARCH=arm64 CGO_ENABLED=0 $(GO) vet $(PKGS)

# Pure Go threads: the library registers its own areas (ModeSelf).
test-nocgo:
	CGO_ENABLED=0 GORSEQ_EXPECT_MODE=self $(GO) test -count=1 $(PKGS)

# cgo with glibc registering every thread (ModeLibc).
test-cgo:
	CGO_ENABLED=1 $(GO) test -count=1 $(PKGS)

# cgo with glibc's registration turned off: the legacy shared protocol (ModeShared).
test-glibc-off:
	CGO_ENABLED=1 GLIBC_TUNABLES=glibc.pthread.rseq=0 GORSEQ_EXPECT_MODE=shared $(GO) test -count=1 ./percpu/...

# No assembly at all: every structure on its portable fallback.
test-purego:
	CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none $(GO) test -count=1 -tags purego $(PKGS)

test-race:
	CGO_ENABLED=1 $(GO) test -count=1 -race $(PKGS)

generate:
	$(GO) generate ./percpu

check-generated:
	@if [ -d gen ]; then $(MAKE) generate && \
		test -z "$$(git status --porcelain -- 'percpu/zops_*')" || { echo 'generated files drifted from gen/: run make generate and commit'; exit 1; }; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 ./percpu
