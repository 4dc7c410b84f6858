# gorseq: `make test` is the full verification matrix CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...
# The Go releases gorseq supports: this machine's go (1.26) and the current
# release, fetched through the module proxy by GOTOOLCHAIN (about 10 s once).
GO_CURRENT ?= go1.27.3
# Example modules (their own go.mod, built against this checkout): every
# host leg and the arm64 VM leg test them too, and check-generated checks
# their generated files.
EXAMPLES ?= examples/percpumax examples/librseq
# Every module beside the root one that the legs test, vet and boot in the
# VMs: the examples and promrseq (Prometheus metrics on percpu; its own
# go.mod so that the root module never requires client_golang).
MODULES ?= $(EXAMPLES) promrseq
# $(call in-examples,COMMAND) runs COMMAND in every example module,
# $(call in-modules,COMMAND) in every module of MODULES.
in-examples = set -e; for d in $(EXAMPLES); do (cd $$d && $(1)); done
in-modules = set -e; for d in $(MODULES); do (cd $$d && $(1)); done
# staticcheck, installed (outside go.mod) into .cache/bin under its version.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK         ?= .cache/bin/staticcheck-$(STATICCHECK_VERSION)

.PHONY: all test test-gen check-tools test-unit test-cgo test-nocgo test-glibc-off test-purego test-race test-386 test-386-run test-386-build test-go-current vet staticcheck check-generated generate bench demo

all: test

# The README's test command (the verification matrix): the tools it needs,
# vet for every platform, staticcheck, generated-code drift, every build mode
# on this kernel, race detector, 386, the current Go release, and the same
# tests on other kernels and architectures in qemu.
test: check-tools vet staticcheck check-generated test-gen test-nocgo test-cgo test-glibc-off test-purego test-race test-386 test-go-current test-vm

# Fails at once, naming the Debian packages to install, when a tool a later
# leg needs is missing (rather than after minutes of host legs).
check-tools:
	@missing=; \
	for t in gcc:gcc git:git cpio:cpio qemu-aarch64-static:qemu-user-static \
		qemu-system-aarch64:qemu-system-arm qemu-system-x86_64:qemu-system-x86; do \
		command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make test needs these Debian packages:$$missing"; \
		echo "install them with: sudo apt-get install -y$$missing   (or run .ci/run, which does)"; \
		exit 1; \
	fi
	@$(GO) run ./internal/hostcheck

demo:
	$(GO) run ./tools/rseqinfo

# gofmt, and go vet (asmdecl included) for every platform the code builds
# on: amd64 with and without cgo, arm64, 386, and the fallback-only ports.
vet:
	test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt needed'; exit 1; }
	$(GO) mod tidy -diff
	cd gen && $(GO) mod tidy -diff
	cd gen && $(GO) vet ./...
	$(call in-modules,$(GO) mod tidy -diff && $(GO) vet ./... && CGO_ENABLED=0 $(GO) vet ./... && GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./... && GOARCH=386 CGO_ENABLED=0 $(GO) vet ./...)
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) vet $(PKGS)
	GOARCH=arm64 CGO_ENABLED=0 $(GO) vet $(PKGS)
	GOARCH=386 CGO_ENABLED=0 $(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)
	GOOS=freebsd $(GO) vet $(PKGS)

$(STATICCHECK):
	rm -rf .cache/bin.tmp && mkdir -p .cache/bin
	GOBIN=$(CURDIR)/.cache/bin.tmp $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv .cache/bin.tmp/staticcheck $@ && rmdir .cache/bin.tmp

# staticcheck for amd64 with cgo and arm64 without (which covers the other
# build-tagged files); a false positive gets a //lint:ignore with its reason.
staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)
	cd gen && $(abspath $(STATICCHECK)) ./...
	$(call in-modules,$(abspath $(STATICCHECK)) ./...)
	GOARCH=arm64 CGO_ENABLED=0 $(STATICCHECK) $(PKGS)

# The generator's own module (gen/go.mod): IR, back ends, the structure
# checks and fuzz seeds, generated code that builds, vets and links in a
# scratch module, and percpu's zops_* up to date.
test-gen:
	cd gen && $(GO) test -count=1 ./...

# Pure Go threads: the library registers its own areas (ModeSelf).
test-nocgo:
	CGO_ENABLED=0 GORSEQ_EXPECT_MODE=self $(GO) test -count=1 $(PKGS)
	$(call in-modules,CGO_ENABLED=0 GORSEQ_EXPECT_MODE=self $(GO) test -count=1 ./...)

# cgo with glibc registering every thread (ModeLibc; glibc 2.35+).
test-cgo:
	CGO_ENABLED=1 GORSEQ_EXPECT_MODE=libc $(GO) test -count=1 $(PKGS)
	$(call in-modules,CGO_ENABLED=1 GORSEQ_EXPECT_MODE=libc $(GO) test -count=1 ./...)

# cgo with glibc's registration turned off: the legacy shared protocol (ModeShared).
test-glibc-off:
	CGO_ENABLED=1 GLIBC_TUNABLES=glibc.pthread.rseq=0 GORSEQ_EXPECT_MODE=shared $(GO) test -count=1 ./rseqop/... ./percpu/...
	$(call in-modules,CGO_ENABLED=1 GLIBC_TUNABLES=glibc.pthread.rseq=0 GORSEQ_EXPECT_MODE=shared $(GO) test -count=1 ./...)

# No assembly at all: every structure on its portable fallback.
test-purego:
	CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none $(GO) test -count=1 -tags purego $(PKGS)
	$(call in-modules,CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none $(GO) test -count=1 -tags purego ./...)

test-race:
	CGO_ENABLED=1 $(GO) test -count=1 -race $(PKGS)
	$(call in-modules,CGO_ENABLED=1 $(GO) test -count=1 -race ./...)

# 32-bit: no assembly, every structure on its portable fallback (ModeNone).
# An amd64 kernel with 32-bit emulation runs linux/386 binaries natively, and
# then the tests run; a kernel without it answers "exec format error" (seen on
# a Firecracker host), and then the leg builds and links every 386 test binary
# (make vet vets them) and says in one line why they did not run.
test-386:
	@if why=$$($(GO) run ./internal/hostcheck -386); then \
		$(MAKE) --no-print-directory test-386-run; \
	else \
		echo "test-386: the 386 tests cannot run on this host ($$why): building them only"; \
		$(MAKE) --no-print-directory test-386-build; \
	fi

test-386-run:
	GOARCH=386 CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none $(GO) test -count=1 -short $(PKGS)
	$(call in-modules,GOARCH=386 CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none $(GO) test -count=1 -short ./...)

# $(call test-c-386,PATTERNS) compiles and links the linux/386 test binary of
# every package with tests into .cache/386 (one per package: names repeat).
test-c-386 = for p in $$(GOARCH=386 CGO_ENABLED=0 $(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $(1)); do \
		GOARCH=386 CGO_ENABLED=0 $(GO) test -c -o $(CURDIR)/.cache/386/$$(echo $$p | tr / _).test $$p || exit 1; done

test-386-build:
	@rm -rf .cache/386 && mkdir -p .cache/386
	@$(call test-c-386,$(PKGS))
	@$(call in-modules,$(call test-c-386,./...))
	@echo "test-386: built $$(ls .cache/386 | wc -l) linux/386 test binaries, not run: this host cannot execute them"

# The current Go release: the runtime internals percpu relies on must still
# hold there, so the fast path must be on (GORSEQ_EXPECT_MODE makes
# TestStatus fail otherwise). Host legs with and without cgo, -short.
test-go-current:
	GOTOOLCHAIN=$(GO_CURRENT) $(GO) version
	GOTOOLCHAIN=$(GO_CURRENT) CGO_ENABLED=0 GORSEQ_EXPECT_MODE=self $(GO) test -count=1 -short ./rseqabi/... ./rseqop/... ./percpu/...
	GOTOOLCHAIN=$(GO_CURRENT) CGO_ENABLED=1 GORSEQ_EXPECT_MODE=libc $(GO) test -count=1 -short ./rseqop/... ./percpu/...

generate:
	$(GO) generate ./percpu ./rseqop/internal/fencetest
	$(call in-examples,$(GO) generate ./...)

check-generated:
	@if [ -d gen ]; then $(MAKE) generate && \
		test -z "$$(git status --porcelain -- 'percpu/zops_*' 'rseqop/internal/fencetest/zops_*' $(addsuffix /zops_*,$(EXAMPLES)))" || { echo 'generated files drifted from gen/: run make generate and commit'; exit 1; }; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 ./percpu
	cd promrseq && $(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 .

# --- VM and emulator tests (internal/vmtest; see its README) ---
# Kernels come from Debian's archive (root and network the first time; cached
# afterwards in $(KERNELS), which .gitignore's /.cache/ covers). Each VM target
# compiles the packages' test binaries static (CGO_ENABLED=0) for the target arch,
# boots them in qemu (TCG, 4 vCPUs) and passes only if every binary exits 0.

KERNELS       ?= .cache/kernels
VMTEST        ?= $(GO) run ./internal/vmtest/cmd/vmtest
# Patterns; only packages with test files are compiled.
VMTEST_PKGS   ?= ./rseqabi/... ./rseqop/... ./percpu/... ./internal/testutil
# Arguments for every test binary in a VM. TCG is 5-20x slower than the host:
# keep -test.short (tests scale their stress loops down with testing.Short()).
VMTEST_ARGS   ?= -test.short -test.timeout=4m
VMTEST_FLAGS  ?= -smp 4 -mem 1024 -timeout 8m -run-timeout 5m
# The VM binaries are non-cgo unless a target says -cgo: the library owns its areas (ModeSelf) on any
# kernel with rseq, 6.1 included (cpu_id only there: no mm_cid, no node_id).
VMTEST_ENV    ?= -env GORSEQ_EXPECT_MODE=self

.PHONY: kernels test-vm test-arm64 test-arm64-72 test-linux61 test-linux61-rt test-linux61-cgo test-linux61-glibc-off \
	test-linux72 test-linux72-cgo test-linux72-glibc-off test-aborts test-arm64-aborts test-arm64-72-aborts test-linux72-aborts \
	test-qemu-user test-vmtest-host

kernels:
	KERNEL_CACHE=$(KERNELS) bash internal/vmtest/kernels.sh

# $(call example-bins,ARCH) compiles the test binaries of MODULES (the
# examples and promrseq; static) into .cache/examples/ARCH; $(call example-bin-flags,ARCH) hands
# them to vmtest (-bin), to run in the same VM as the packages.
example-bins = mkdir -p .cache/examples/$(1) && \
	$(call in-modules,GOOS=linux GOARCH=$(1) CGO_ENABLED=0 $(GO) test -c -o $(CURDIR)/.cache/examples/$(1)/$$(basename $$d).test .)
example-bin-flags = $(foreach e,$(MODULES),-bin .cache/examples/$(1)/$(notdir $(e)).test)

# $(call vm-self,ARCH,KERNEL) boots KERNEL ($(KERNELS)/KERNEL/vmlinuz) with the
# packages' and MODULES' non-cgo test binaries (ModeSelf).
vm-self = $(call example-bins,$(1)) && \
	$(VMTEST) -arch $(1) -kernel $(KERNELS)/$(2)/vmlinuz $(VMTEST_FLAGS) $(VMTEST_ENV) \
		$(addprefix -pkg ,$(VMTEST_PKGS)) $(call example-bin-flags,$(1)) -- $(VMTEST_ARGS)

# arm64, Linux 6.12 (Debian 12 cloud kernel): cpu_id, node_id and mm_cid live.
test-arm64: kernels
	$(call vm-self,arm64,arm64-6.12)

# arm64, Linux 7.2 (Debian sid): after the 6.19 rseq rework and arm64's
# entry fixes; feature size 33, alignment 64.
test-arm64-72: kernels
	$(call vm-self,arm64,arm64-7.2)

# amd64, Linux 6.1 (Debian 12 cloud kernel): no AT_RSEQ_* auxv, no mm_cid/node_id.
test-linux61: kernels
	$(VMTEST) -arch amd64 -kernel $(KERNELS)/amd64-6.1/vmlinuz $(VMTEST_FLAGS) $(VMTEST_ENV) \
		$(addprefix -pkg ,$(VMTEST_PKGS)) -- $(VMTEST_ARGS)

# amd64, Linux 6.1 PREEMPT_RT: preemption almost anywhere in the kernel. The
# example modules' ops (cpu_id only here) run in the same VM.
test-linux61-rt: kernels
	$(call vm-self,amd64,amd64-6.1-rt)

# amd64, Linux 7.2 (Debian sid): after the rseq rework.
test-linux72: kernels
	$(call vm-self,amd64,amd64-7.2)

# $(call vm-cgo,KERNEL,ENV,PKGS) boots amd64 cgo binaries with the host's
# glibc 2.36 copied into the initramfs (-libroot /).
vm-cgo = $(VMTEST) -arch amd64 -kernel $(KERNELS)/$(1)/vmlinuz $(VMTEST_FLAGS) -cgo -libroot / \
	$(addprefix -env ,$(2)) $(addprefix -pkg ,$(3)) -- $(VMTEST_ARGS)

# amd64 cgo binaries on Linux 6.1: glibc registers every thread (ModeLibc) on
# a kernel that never writes mm_cid/node_id into glibc's area.
test-linux61-cgo: kernels
	$(call vm-cgo,amd64-6.1,GORSEQ_EXPECT_MODE=libc,$(VMTEST_PKGS))

# The same with glibc's registration turned off: the legacy shared protocol (ModeShared).
test-linux61-glibc-off: kernels
	$(call vm-cgo,amd64-6.1,GLIBC_TUNABLES=glibc.pthread.rseq=0 GORSEQ_EXPECT_MODE=shared,./percpu/...)

# ModeLibc on Linux 7.2.
test-linux72-cgo: kernels
	$(call vm-cgo,amd64-7.2,GORSEQ_EXPECT_MODE=libc,$(VMTEST_PKGS))

# ModeShared on Linux 7.2, with a C library of the 2020 protocol that
# registers __rseq_abi first (internal/legacyc): the original 32-byte length
# shares it there too.
test-linux72-glibc-off: kernels
	$(call vm-cgo,amd64-7.2,GLIBC_TUNABLES=glibc.pthread.rseq=0 GORSEQ_EXPECT_MODE=shared,./percpu/... ./internal/legacyc)

# Abort proofs: plain TCG delivers interrupts only between translation blocks,
# so a short critical section is almost never interrupted inside and an abort
# there is luck (rseqoptest.AbortRestart does not require one under plain TCG).
# With one guest instruction per block interrupts, preemption and signals land
# on any instruction: these legs run every abort proof (percpu's
# TestOpAbortRestart, the example modules', rseqop's fence test) and require
# the aborts, on arm64 6.12, amd64 7.2 and arm64 7.2 (promrseq's
# TestMetricsAbortRestart too). Slower (arm64 boot alone
# about 20 s).
VMTEST_ABORT_PKGS ?= ./percpu ./rseqop
VMTEST_ABORT_RUN  ?= ^(TestOpAbortRestart|TestAbortRestart|TestLoad[A-Za-z]+|TestFenceOrdersLongSections|TestMetricsAbortRestart)$$
vm-aborts = $(call example-bins,$(1)) && \
	$(VMTEST) -arch $(1) -kernel $(KERNELS)/$(2)/vmlinuz $(VMTEST_FLAGS) -one-insn-per-tb $(VMTEST_ENV) \
		$(addprefix -pkg ,$(VMTEST_ABORT_PKGS)) $(call example-bin-flags,$(1)) -- $(VMTEST_ARGS) -test.v -test.run '$(VMTEST_ABORT_RUN)'

test-arm64-aborts: kernels
	$(call vm-aborts,arm64,arm64-6.12)

test-arm64-72-aborts: kernels
	$(call vm-aborts,arm64,arm64-7.2)

test-linux72-aborts: kernels
	$(call vm-aborts,amd64,amd64-7.2)

test-aborts: test-arm64-aborts test-linux72-aborts test-arm64-72-aborts

# arm64 binaries under qemu-user: rseq answers ENOSYS, so everything runs on
# its fallback (ModeNone). No kernel needed. Subprocess tests skip here
# (GORSEQ_NO_SUBPROCESS: qemu-user's emulated fork of a threaded process
# sometimes deadlocks before exec; seen twice).
test-qemu-user:
	GOARCH=arm64 CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none GORSEQ_NO_SUBPROCESS=1 $(GO) test -count=1 -short \
		-exec qemu-aarch64-static $(VMTEST_PKGS)

# The harness' own host-side tests (cpio writer, result lines, a real boot
# of the init's rseq self-check when kernels are cached).
test-vmtest-host: kernels
	VMTEST_BOOT=1 VMTEST_KERNELS=$(abspath $(KERNELS)) $(GO) test -count=1 ./internal/vmtest/...

test-vm: test-qemu-user test-arm64 test-arm64-72 test-linux61 test-linux61-rt test-linux61-cgo test-linux61-glibc-off \
	test-linux72 test-linux72-cgo test-linux72-glibc-off test-aborts
