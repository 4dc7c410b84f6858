package vmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Machine describes the virtual machine to boot.
type Machine struct {
	Arch    string // "arm64" or "amd64"
	Kernel  string // kernel image (Debian's vmlinuz)
	Initrd  string // uncompressed newc cpio
	SMP     int    // vCPUs (0: 4)
	MemMB   int    // memory (0: 1024)
	CPU     string // qemu -cpu ("": cortex-a57 on arm64, max on amd64)
	Append  string // extra kernel command line
	Timeout time.Duration
	// BootTimeout bounds the time until the init's first VMTEST-INFO line;
	// a kernel that has not started /init by then (TCG with more vCPUs
	// than host cores sometimes soft-locks during boot) fails with
	// ErrBootFailed, which callers may retry. 0 means 3 minutes.
	BootTimeout time.Duration
	// OneInsnPerTB makes TCG translate one guest instruction per block.
	// TCG delivers interrupts only between translation blocks, so a short
	// straight-line rseq critical section is normally never interrupted
	// inside and its abort path never runs; with this option interrupts can
	// land on any instruction, at several times the cost.
	OneInsnPerTB bool
}

// Command returns the qemu command line for m. TCG only: KVM is not usable
// on the machines this runs on, and TCG gives the same results everywhere.
func (m Machine) Command() (string, []string, error) {
	smp, mem := m.SMP, m.MemMB
	if smp <= 0 {
		smp = 4
	}
	if mem <= 0 {
		mem = 1024
	}
	var bin, console, cpu string
	var args []string
	switch m.Arch {
	case "arm64":
		bin, console, cpu = "qemu-system-aarch64", "ttyAMA0", "cortex-a57"
		args = []string{"-M", "virt"}
	case "amd64":
		bin, console, cpu = "qemu-system-x86_64", "ttyS0", "max"
	default:
		return "", nil, fmt.Errorf("vmtest: unsupported arch %q", m.Arch)
	}
	if m.CPU != "" {
		cpu = m.CPU
	}
	cmdline := "console=" + console + " rdinit=/init quiet panic=-1"
	if m.Append != "" {
		cmdline += " " + m.Append
	}
	accel := "tcg"
	if m.OneInsnPerTB {
		accel = "tcg,one-insn-per-tb=on"
		if qemuBefore81(bin) {
			accel = "tcg"
			args = append(args, "-singlestep")
		}
	}
	args = append(args,
		"-accel", accel,
		"-cpu", cpu,
		"-smp", strconv.Itoa(smp),
		"-m", strconv.Itoa(mem),
		"-nographic", "-monitor", "none", "-serial", "stdio",
		"-no-reboot",
		"-nic", "none", // no network, and no iPXE option ROM to wait for
		"-kernel", m.Kernel,
		"-initrd", m.Initrd,
		"-append", cmdline)
	return bin, args, nil
}

// ErrBootFailed: the kernel never started /init. Either it stalled (see
// Machine.BootTimeout) or it died on the way: Debian's 7.2 amd64 kernel
// panics now and then under multi-threaded TCG while it patches its own
// code at boot (a CPU executing into the middle of a jump-label NOP in
// sched_clock_cpu, 2026-12-05 in CI), long before any test binary ran. No
// test ran, so it is an infrastructure failure that callers may retry; a
// kernel that dies after /init started is a test failure and is not
// reported this way.
var ErrBootFailed = errors.New("vmtest: the kernel never started /init")

// Outcome is what one boot produced.
type Outcome struct {
	Results []Result
	Done    bool // the final line was seen
	Failed  int  // from the final line
	Elapsed time.Duration
}

// OK reports whether every run passed and the init finished.
func (o Outcome) OK() bool {
	if !o.Done || o.Failed != 0 {
		return false
	}
	for _, r := range o.Results {
		if r.Exit != 0 {
			return false
		}
	}
	return true
}

// Boot runs the machine, copies its console to console line by line, and
// parses the result lines. It returns an error if qemu cannot start or the
// timeout expires; a VM that ends without the final line returns an Outcome
// with Done false.
func Boot(ctx context.Context, m Machine, console io.Writer) (Outcome, error) {
	bin, args, err := m.Command()
	if err != nil {
		return Outcome{}, err
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = nil
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Outcome{}, err
	}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Outcome{}, fmt.Errorf("vmtest: %s: %w", bin, err)
	}
	var o Outcome
	bootTimeout := m.BootTimeout
	if bootTimeout <= 0 {
		bootTimeout = 3 * time.Minute
	}
	var booted atomic.Bool
	var stalled atomic.Bool
	var lastKernelLine string // the last kernel panic or oops line before /init
	stallTimer := time.AfterFunc(bootTimeout, func() {
		if !booted.Load() {
			stalled.Store(true)
			cancel()
		}
	})
	defer stallTimer.Stop()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := StripTerminalControls(strings.TrimRight(sc.Text(), "\r"))
		fmt.Fprintln(console, line)
		if strings.HasPrefix(line, InfoPrefix) {
			booted.Store(true)
		}
		if !booted.Load() && isKernelDeath(line) {
			lastKernelLine = strings.TrimSpace(line)
		}
		if r, ok := ParseResult(line); ok {
			o.Results = append(o.Results, r)
		}
		if rest, ok := strings.CutPrefix(line, DonePrefix); ok {
			o.Done = true
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "failed="); ok {
					o.Failed, _ = strconv.Atoi(v)
				}
			}
		}
	}
	werr := cmd.Wait()
	o.Elapsed = time.Since(start)
	if stalled.Load() {
		return o, fmt.Errorf("%w: it stalled, no %q line within %v", ErrBootFailed, strings.TrimSpace(InfoPrefix), bootTimeout)
	}
	if ctx.Err() != nil {
		return o, fmt.Errorf("vmtest: VM timed out after %v", timeout)
	}
	if !booted.Load() {
		why := "the VM ended with no line from /init"
		if lastKernelLine != "" {
			why += " after " + strconv.Quote(lastKernelLine)
		}
		return o, fmt.Errorf("%w: %s", ErrBootFailed, why)
	}
	if werr != nil && !errors.Is(werr, exec.ErrWaitDelay) {
		return o, fmt.Errorf("vmtest: %s: %w", bin, werr)
	}
	return o, nil
}

// isKernelDeath reports a console line with which a kernel reports that it
// is dying.
func isKernelDeath(line string) bool {
	return strings.Contains(line, "Kernel panic") || strings.Contains(line, "Oops:") ||
		strings.Contains(line, "BUG:") || strings.Contains(line, "general protection fault")
}

// qemuBefore81 reports whether bin is older than QEMU 8.1, which renamed
// -singlestep to -accel tcg,one-insn-per-tb=on.
func qemuBefore81(bin string) bool {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(string(out), "QEMU emulator version "), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major < 8 || major == 8 && minor < 1
}
