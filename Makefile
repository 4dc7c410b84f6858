# gorseq: `make test` is the full verification matrix CI runs (.ci/run).
GO      ?= go
PKGS    ?= ./...

.PHONY: all test test-unit test-cgo test-nocgo test-glibc-off test-purego test-race vet check-generated generate bench demo

all: test

# The README's test command (the verification matrix): vet for amd64 and arm64,
# generated-code drift, every build mode on this kernel, race detector, and the
# same tests on other kernels and architectures in qemu.
test: vet check-generated test-nocgo test-cgo test-glibc-off test-purego test-race test-vm

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

# --- VM and emulator tests (internal/vmtest; see its README) ---
# Kernels come from Debian's archive (root and network the first time; cached
# afterwards in $(KERNELS), which .gitignore's /.cache/ covers). Each VM target
# compiles the packages' test binaries static (CGO_ENABLED=0) for the target arch,
# boots them in qemu (TCG, 4 vCPUs) and passes only if every binary exits 0.

KERNELS       ?= .cache/kernels
VMTEST        ?= $(GO) run ./internal/vmtest/cmd/vmtest
# Patterns; only packages with test files are compiled.
VMTEST_PKGS   ?= ./rseqabi/... ./percpu/... ./internal/testutil
# Arguments for every test binary in a VM. TCG is 5-20x slower than the host:
# keep -test.short (tests scale their stress loops down with testing.Short()).
VMTEST_ARGS   ?= -test.short -test.timeout=4m
VMTEST_FLAGS  ?= -smp 4 -mem 1024 -timeout 8m -run-timeout 5m
# All VM binaries are non-cgo: the library owns its areas (ModeSelf) on any
# kernel with rseq, 6.1 included (cpu_id only there: no mm_cid, no node_id).
VMTEST_ENV    ?= -env GORSEQ_EXPECT_MODE=self

.PHONY: kernels test-vm test-arm64 test-linux61 test-linux61-rt test-linux61-cgo test-linux61-glibc-off test-arm64-aborts test-qemu-user test-vmtest-host

kernels:
	bash internal/vmtest/kernels.sh

# arm64, Linux 6.12 (Debian 12 cloud kernel): cpu_id, node_id and mm_cid live.
test-arm64: kernels
	$(VMTEST) -arch arm64 -kernel $(KERNELS)/arm64-6.12/vmlinuz $(VMTEST_FLAGS) $(VMTEST_ENV) \
		$(addprefix -pkg ,$(VMTEST_PKGS)) -- $(VMTEST_ARGS)

# amd64, Linux 6.1 (Debian 12 cloud kernel): no AT_RSEQ_* auxv, no mm_cid/node_id.
test-linux61: kernels
	$(VMTEST) -arch amd64 -kernel $(KERNELS)/amd64-6.1/vmlinuz $(VMTEST_FLAGS) $(VMTEST_ENV) \
		$(addprefix -pkg ,$(VMTEST_PKGS)) -- $(VMTEST_ARGS)

# amd64, Linux 6.1 PREEMPT_RT: preemption almost anywhere in the kernel.
test-linux61-rt: kernels
	$(VMTEST) -arch amd64 -kernel $(KERNELS)/amd64-6.1-rt/vmlinuz $(VMTEST_FLAGS) $(VMTEST_ENV) \
		$(addprefix -pkg ,$(VMTEST_PKGS)) -- $(VMTEST_ARGS)

# arm64 6.12 with one guest instruction per TCG translation block: interrupts,
# preemption and signals can then land inside a critical section, so abort paths
# really run (plain TCG only interrupts between blocks). Several times slower
# (boot alone ~1 minute): runs only the tests VMTEST_ABORT_RUN selects.
VMTEST_ABORT_RUN ?= ^TestOp
test-arm64-aborts: kernels
	$(VMTEST) -arch arm64 -kernel $(KERNELS)/arm64-6.12/vmlinuz $(VMTEST_FLAGS) -one-insn-per-tb $(VMTEST_ENV) \
		-pkg ./percpu -- $(VMTEST_ARGS) -test.run '$(VMTEST_ABORT_RUN)'

# amd64 cgo binaries on Linux 6.1 with the host's glibc 2.36 copied into the
# initramfs (-libroot /): glibc registers every thread (ModeLibc) on a kernel
# that never writes mm_cid/node_id into glibc's area.
test-linux61-cgo: kernels
	$(VMTEST) -arch amd64 -kernel $(KERNELS)/amd64-6.1/vmlinuz $(VMTEST_FLAGS) -cgo -libroot / \
		-env GORSEQ_EXPECT_MODE=libc $(addprefix -pkg ,$(VMTEST_PKGS)) -- $(VMTEST_ARGS)

# The same with glibc's registration turned off: the legacy shared protocol (ModeShared).
test-linux61-glibc-off: kernels
	$(VMTEST) -arch amd64 -kernel $(KERNELS)/amd64-6.1/vmlinuz $(VMTEST_FLAGS) -cgo -libroot / \
		-env GLIBC_TUNABLES=glibc.pthread.rseq=0 -env GORSEQ_EXPECT_MODE=shared \
		-pkg ./percpu/... -- $(VMTEST_ARGS)

# arm64 binaries under qemu-user: rseq answers ENOSYS, so everything runs on
# its fallback (ModeNone). No kernel needed. Subprocess tests skip here
# (GORSEQ_NO_SUBPROCESS: qemu-user's emulated fork of a threaded process
# sometimes deadlocks before exec; seen twice).
test-qemu-user:
	GOARCH=arm64 CGO_ENABLED=0 GORSEQ_EXPECT_MODE=none GORSEQ_NO_SUBPROCESS=1 $(GO) test -count=1 -short \
		-exec qemu-aarch64-static $(VMTEST_PKGS)

# The harness' own host-side tests (cpio writer, result lines, a real boot
# of the init's rseq self-check when kernels are cached).
test-vmtest-host:
	$(GO) test -count=1 ./internal/vmtest/...

test-vm: test-qemu-user test-arm64 test-linux61 test-linux61-rt test-linux61-cgo test-linux61-glibc-off
