// Command vmtest runs Go test binaries on a real Linux kernel in qemu.
//
//	vmtest -arch arm64 -kernel .cache/kernels/arm64-6.12/vmlinuz \
//		-pkg ./rseqabi -pkg ./internal/testutil -bin extra.test -- -test.short
//
// It compiles each package with tests that the -pkg patterns name with
// `go test -c` for the target arch (static, CGO_ENABLED=0), takes each -bin as it is (it must be a static binary for
// the target arch), builds the init program (cmd/vminit) unless -init names
// one, packs all of them into an initramfs, boots the kernel with TCG, copies
// the console to stdout, and exits 0 only if every binary exited 0. The
// arguments after -- go to every binary. A package's testdata directory is
// copied too and the binary runs in the directory that holds it, as under
// `go test`.
package main

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorseq/rseq/internal/vmtest"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		m          vmtest.Machine
		pkgs, bins list
		env        list
		initBin    = flag.String("init", "", "prebuilt init program (default: build cmd/vminit)")
		keep       = flag.String("keep", "", "directory to keep the initramfs and binaries in (default: a temporary one, removed)")
		runTimeout = flag.Duration("run-timeout", 5*time.Minute, "kill one binary after this long inside the VM")
		tags       = flag.String("tags", "", "build tags for -pkg binaries")
	)
	flag.StringVar(&m.Arch, "arch", "arm64", "target arch: arm64 or amd64")
	flag.StringVar(&m.Kernel, "kernel", "", "kernel image (required)")
	flag.IntVar(&m.SMP, "smp", 4, "vCPUs")
	flag.IntVar(&m.MemMB, "mem", 1024, "memory in MiB")
	flag.StringVar(&m.CPU, "cpu", "", "qemu -cpu model (default cortex-a57 / max)")
	flag.StringVar(&m.Append, "append", "", "extra kernel command line")
	flag.DurationVar(&m.Timeout, "timeout", 10*time.Minute, "kill the VM after this long")
	flag.Var(&pkgs, "pkg", "package to compile with go test -c and run (repeatable)")
	flag.Var(&bins, "bin", "static test binary to run (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE for every binary (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmtest -arch A -kernel K [-pkg P]... [-bin B]... [-- test args]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if m.Kernel == "" || len(pkgs)+len(bins) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(m, pkgs, bins, env, flag.Args(), *initBin, *keep, *runTimeout, *tags); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(m vmtest.Machine, pkgs, bins, env, args []string, initBin, keep string, runTimeout time.Duration, tags string) error {
	start := time.Now()
	dir := keep
	if dir == "" {
		d, err := os.MkdirTemp("", "vmtest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(m.Kernel); err != nil {
		return fmt.Errorf("kernel: %w (run internal/vmtest/kernels.sh)", err)
	}
	goEnv := append(os.Environ(), "GOOS=linux", "GOARCH="+m.Arch, "CGO_ENABLED=0")
	if initBin == "" {
		initBin = filepath.Join(dir, "init")
		if err := goCmd(goEnv, "build", "-trimpath", "-o", initBin, "github.com/gorseq/rseq/internal/vmtest/cmd/vminit"); err != nil {
			return fmt.Errorf("building init: %w", err)
		}
	}
	type file struct{ name, src, testdata string }
	var files []file
	var testPkgs []pkg
	if len(pkgs) > 0 {
		var err error
		if testPkgs, err = testPackages(goEnv, tags, pkgs); err != nil {
			return err
		}
	}
	for _, p := range testPkgs {
		name := binName(p.path)
		out := filepath.Join(dir, name+".test")
		a := []string{"test", "-c", "-o", out}
		if tags != "" {
			a = append(a, "-tags", tags)
		}
		if err := goCmd(goEnv, append(a, p.path)...); err != nil {
			return fmt.Errorf("compiling %s: %w", p.path, err)
		}
		td := filepath.Join(p.dir, "testdata")
		if st, err := os.Stat(td); err != nil || !st.IsDir() {
			td = ""
		}
		files = append(files, file{name, out, td})
	}
	for _, b := range bins {
		files = append(files, file{strings.TrimSuffix(filepath.Base(b), ".test"), b, ""})
	}
	for _, f := range append([]file{{"init", initBin, ""}}, files...) {
		if err := checkBinary(f.src, m.Arch); err != nil {
			return err
		}
	}
	plan := vmtest.Plan{Env: env}
	for _, f := range files {
		plan.Runs = append(plan.Runs, vmtest.Run{
			Name:           f.name,
			Path:           "/bin/" + f.name + ".test",
			Dir:            "/pkg/" + f.name,
			Args:           args,
			TimeoutSeconds: int(runTimeout / time.Second),
		})
	}
	planJSON, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return err
	}
	m.Initrd = filepath.Join(dir, "initramfs.cpio")
	out, err := os.Create(m.Initrd)
	if err != nil {
		return err
	}
	w := vmtest.NewCPIOWriter(out)
	w.CharDevice("/dev/console", 0o600, 5, 1)
	w.Mkdir("/proc", 0o755)
	w.Mkdir("/sys", 0o755)
	w.Mkdir("/tmp", 0o1777)
	w.CopyFile("/init", 0o755, initBin)
	w.WriteFile(vmtest.PlanPath, 0o644, planJSON)
	for _, f := range files {
		w.CopyFile("/bin/"+f.name+".test", 0o755, f.src)
		w.Mkdir("/pkg/"+f.name, 0o755)
		if f.testdata != "" {
			if err := addTree(w, "/pkg/"+f.name+"/testdata", f.testdata); err != nil {
				return err
			}
		}
	}
	err = errors.Join(w.Close(), out.Close())
	if err != nil {
		return err
	}
	fmt.Printf("vmtest: built %d binaries and the initramfs in %.1fs; booting %s on %s\n",
		len(files), time.Since(start).Seconds(), m.Arch, m.Kernel)
	o, err := vmtest.Boot(context.Background(), m, os.Stdout)
	fmt.Printf("vmtest: VM ran %.1fs\n", o.Elapsed.Seconds())
	for _, r := range o.Results {
		status := "ok  "
		if r.Exit != 0 {
			status = "FAIL"
		}
		fmt.Printf("vmtest: %s %-24s exit=%d %.1fs\n", status, r.Name, r.Exit, r.Seconds)
	}
	if err != nil {
		return err
	}
	if !o.Done {
		return fmt.Errorf("vmtest: the VM stopped without its final %q line", strings.TrimSpace(vmtest.DonePrefix))
	}
	if len(o.Results) != len(files) {
		return fmt.Errorf("vmtest: %d results for %d binaries", len(o.Results), len(files))
	}
	if !o.OK() {
		return fmt.Errorf("vmtest: %d of %d failed", o.Failed, len(files))
	}
	fmt.Printf("vmtest: all %d passed (%s, %.1fs in all)\n", len(files), m.Arch, time.Since(start).Seconds())
	return nil
}

func goCmd(env []string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Env = env
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

type pkg struct{ path, dir string }

// testPackages expands package patterns (./percpu/...) to the packages that
// have tests for the target (GOARCH, CGO_ENABLED=0, tags).
func testPackages(env []string, tags string, patterns []string) ([]pkg, error) {
	args := []string{"list", "-e", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", strings.Join(patterns, " "), err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p, d, ok := strings.Cut(line, " "); ok {
			pkgs = append(pkgs, pkg{p, d})
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no package with tests in %s", strings.Join(patterns, " "))
	}
	return pkgs, nil
}

// binName turns a package pattern into a file name: ./internal/testutil -> internal_testutil.
func binName(p string) string {
	p = strings.TrimPrefix(p, "github.com/gorseq/rseq/")
	p = strings.Trim(strings.TrimPrefix(p, "./"), "/")
	if p == "" || p == "." {
		return "root"
	}
	return strings.ReplaceAll(p, "/", "_")
}

var elfMachine = map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}

// checkBinary rejects what cannot run in the VM: another arch, or a binary
// that needs a dynamic loader (the initramfs has no libc).
func checkBinary(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elfMachine[arch] {
		return fmt.Errorf("%s is %v, not %s", path, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0 (the VM has no libc)", path)
		}
	}
	return nil
}

func addTree(w *vmtest.CPIOWriter, dst, src string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.ToSlash(filepath.Join(dst, rel))
		switch {
		case d.IsDir():
			w.Mkdir(target, 0o755)
		case d.Type().IsRegular():
			w.CopyFile(target, 0o644, p)
		}
		return nil
	})
}
