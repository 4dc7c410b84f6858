package vmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorseq/rseq/rseqop/rseqoptest"
)

// TestEnvAgreesWithRseqoptest: the guests' environment says what
// rseqoptest.AbortRestart reads.
func TestEnvAgreesWithRseqoptest(t *testing.T) {
	if EnvVM != rseqoptest.EnvVMTest || VMPlainTCG != rseqoptest.VMTestPlainTCG || VMOneInsnPerTB != rseqoptest.VMTestOneInsnPerTB {
		t.Errorf("vmtest sets %s=%s|%s, rseqoptest reads %s=%s|%s", EnvVM, VMPlainTCG, VMOneInsnPerTB,
			rseqoptest.EnvVMTest, rseqoptest.VMTestPlainTCG, rseqoptest.VMTestOneInsnPerTB)
	}
}

func TestResultLines(t *testing.T) {
	r := Result{Name: "percpu", Exit: 1, Seconds: 12.5}
	got, ok := ParseResult(FormatResult(r))
	if !ok || got != r {
		t.Errorf("ParseResult(FormatResult(%+v)) = %+v, %v", r, got, ok)
	}
	for _, bad := range []string{"", "VMTEST-RESULT: name=x", "VMTEST-RESULT: exit=0", "VMTEST-RESULT: name=x exit=zero", "x VMTEST-RESULT: name=x exit=0"} {
		if _, ok := ParseResult(bad); ok {
			t.Errorf("ParseResult(%q) accepted", bad)
		}
	}
}

func TestCPIOWithTool(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("no cpio tool")
	}
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	w.CharDevice("/dev/console", 0o600, 5, 1)
	w.WriteFile("/a/b/c.txt", 0o644, []byte("hello"))
	w.WriteFile("/odd", 0o755, []byte("123"))
	w.Mkdir("/tmp", 0o1777)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -it: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	want := []string{"dev", "dev/console", "a", "a/b", "a/b/c.txt", "odd", "tmp"}
	if !slices.Equal(got, want) {
		t.Errorf("cpio -it lists %q, want %q", got, want)
	}
	// Extract and compare contents.
	dir := t.TempDir()
	var arch bytes.Buffer
	w = NewCPIOWriter(&arch)
	w.WriteFile("/a/b/c.txt", 0o644, []byte("hello"))
	w.WriteFile("/odd", 0o755, []byte("123"))
	w.Close()
	cmd = exec.Command("cpio", "-id", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &arch
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"a/b/c.txt": "hello", "odd": "123"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}

func TestCommand(t *testing.T) {
	for _, c := range []struct{ arch, bin, console string }{
		{"arm64", "qemu-system-aarch64", "console=ttyAMA0"},
		{"amd64", "qemu-system-x86_64", "console=ttyS0"},
	} {
		bin, args, err := Machine{Arch: c.arch, Kernel: "k", Initrd: "i"}.Command()
		if err != nil || bin != c.bin || !strings.Contains(strings.Join(args, " "), c.console) {
			t.Errorf("%s: %s %q, %v", c.arch, bin, args, err)
		}
	}
	if _, args, _ := (Machine{Arch: "arm64", OneInsnPerTB: true}).Command(); !strings.Contains(strings.Join(args, " "), "one-insn-per-tb") && !slices.Contains(args, "-singlestep") {
		t.Errorf("OneInsnPerTB: %q", args)
	}
	if _, _, err := (Machine{Arch: "riscv64"}).Command(); err == nil {
		t.Error("riscv64 accepted")
	}
}

// TestBoot boots the cached kernels with an init and an empty plan and checks
// the rseq self-check lines. It runs only with VMTEST_BOOT=1 (make
// test-vmtest-host): each boot takes seconds.
func TestBoot(t *testing.T) {
	if os.Getenv("VMTEST_BOOT") != "1" {
		t.Skip("set VMTEST_BOOT=1 to boot kernels")
	}
	root := moduleRoot(t)
	kernels := os.Getenv("VMTEST_KERNELS") // make test-vmtest-host passes $(KERNELS)
	if kernels == "" {
		kernels = filepath.Join(root, ".cache/kernels")
	}
	for _, c := range []struct {
		arch, kernel, want string
	}{
		{"arm64", "arm64-6.12", "AT_RSEQ_FEATURE_SIZE=28"},
		{"amd64", "amd64-6.1", "AT_RSEQ_FEATURE_SIZE=absent"},
		{"amd64", "amd64-6.1-rt", "AT_RSEQ_FEATURE_SIZE=absent"},
		{"amd64", "amd64-7.2", "AT_RSEQ_FEATURE_SIZE=33 AT_RSEQ_ALIGN=64"},
		{"arm64", "arm64-7.2", "AT_RSEQ_FEATURE_SIZE=33 AT_RSEQ_ALIGN=64"},
	} {
		t.Run(c.kernel, func(t *testing.T) {
			kernel := filepath.Join(kernels, c.kernel, "vmlinuz")
			if _, err := os.Stat(kernel); err != nil {
				t.Skipf("no kernel (make kernels): %v", err)
			}
			dir := t.TempDir()
			init := filepath.Join(dir, "init")
			cmd := exec.Command("go", "build", "-o", init, "./internal/vmtest/cmd/vminit")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+c.arch, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build init: %v\n%s", err, out)
			}
			initrd := filepath.Join(dir, "initrd")
			f, _ := os.Create(initrd)
			w := NewCPIOWriter(f)
			w.CharDevice("/dev/console", 0o600, 5, 1)
			w.CopyFile("/init", 0o755, init)
			plan, _ := json.Marshal(Plan{})
			w.WriteFile(PlanPath, 0o644, plan)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			var console bytes.Buffer
			o, err := Boot(context.Background(), Machine{Arch: c.arch, Kernel: kernel, Initrd: initrd, Timeout: 2 * time.Minute}, &console)
			t.Logf("%s booted in %.1fs:\n%s", c.kernel, o.Elapsed.Seconds(), console.String())
			if err != nil || !o.OK() || len(o.Results) != 0 {
				t.Fatalf("outcome %+v, %v", o, err)
			}
			if i := strings.IndexByte(console.String(), 0x1b); i >= 0 {
				t.Errorf("console log holds a terminal escape sequence at byte %d", i)
			}
			for _, want := range []string{c.want, "rseq register=ok cpu_id="} {
				if !strings.Contains(console.String(), want) {
					t.Errorf("console lacks %q", want)
				}
			}
		})
	}
}

func moduleRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestBootFailedOnlyBeforeInit runs Boot against a stand-in qemu that prints
// a console and exits: a kernel that dies before /init spoke is a boot
// failure (retried by cmd/vmtest), one that dies later is a test result.
func TestBootFailedOnlyBeforeInit(t *testing.T) {
	for _, c := range []struct {
		name, console string
		bootFailed    bool
		ok            bool
	}{
		{"panic before init", "[    1.39] RIP: 0010:sched_clock_cpu+0x9/0x230\n[    1.39] Kernel panic - not syncing: Fatal exception in interrupt\n", true, false},
		{"silent exit before init", "[    0.10] Linux version 7.2\n", true, false},
		{"panic after init", InfoPrefix + "kernel=7.2\n[   9.0] Kernel panic - not syncing: oops\n", false, false},
		{"clean run", InfoPrefix + "kernel=7.2\n" + FormatResult(Result{Name: "percpu", Seconds: 1}) + "\n" + DonePrefix + "runs=1 failed=0\n", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			consoleFile := filepath.Join(dir, "console")
			if err := os.WriteFile(consoleFile, []byte(c.console), 0o644); err != nil {
				t.Fatal(err)
			}
			script := "#!/bin/sh\ncat " + consoleFile + "\n"
			if err := os.WriteFile(filepath.Join(dir, "qemu-system-x86_64"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			var console bytes.Buffer
			o, err := Boot(context.Background(), Machine{Arch: "amd64", Kernel: "k", Initrd: "i", Timeout: time.Minute}, &console)
			if got := errors.Is(err, ErrBootFailed); got != c.bootFailed {
				t.Errorf("errors.Is(%v, ErrBootFailed) = %v, want %v", err, got, c.bootFailed)
			}
			if c.bootFailed && strings.Contains(c.console, "Kernel panic") && !strings.Contains(err.Error(), "Kernel panic") {
				t.Errorf("error %q does not quote the panic line", err)
			}
			if o.OK() != c.ok {
				t.Errorf("OK() = %v, want %v (outcome %+v, err %v)", o.OK(), c.ok, o, err)
			}
			if console.String() != c.console {
				t.Errorf("console copy %q, want %q", console.String(), c.console)
			}
		})
	}
}
