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
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gorseq/rseq/internal/vmtest"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// options are the command line, less the machine.
type options struct {
	pkgs, bins, env list
	args            []string // after --
	init            string
	keep            string
	runTimeout      time.Duration
	tags            string
	cgo             bool
	libRoot         string
}

func main() {
	var (
		m vmtest.Machine
		o options
	)
	flag.StringVar(&m.Arch, "arch", "arm64", "target arch: arm64 or amd64")
	flag.StringVar(&m.Kernel, "kernel", "", "kernel image (required)")
	flag.IntVar(&m.SMP, "smp", 4, "vCPUs")
	flag.IntVar(&m.MemMB, "mem", 1024, "memory in MiB")
	flag.StringVar(&m.CPU, "cpu", "", "qemu -cpu model (default cortex-a57 / max)")
	flag.StringVar(&m.Append, "append", "", "extra kernel command line")
	flag.DurationVar(&m.Timeout, "timeout", 10*time.Minute, "kill the VM after this long")
	flag.DurationVar(&m.BootTimeout, "boot-timeout", 3*time.Minute, "boot again (up to 3 times) when /init has not started after this long")
	flag.BoolVar(&m.OneInsnPerTB, "one-insn-per-tb", false, "TCG: one instruction per translation block, so interrupts (and rseq aborts) can land anywhere; slower")
	flag.Var(&o.pkgs, "pkg", "package pattern to compile with go test -c and run (repeatable)")
	flag.Var(&o.bins, "bin", "test binary to run (repeatable)")
	flag.Var(&o.env, "env", "KEY=VALUE for every binary (repeatable)")
	flag.StringVar(&o.init, "init", "", "prebuilt init program (default: build cmd/vminit)")
	flag.StringVar(&o.keep, "keep", "", "directory to keep the initramfs and binaries in (default: a temporary one, removed)")
	flag.DurationVar(&o.runTimeout, "run-timeout", 5*time.Minute, "kill one binary after this long inside the VM")
	flag.StringVar(&o.tags, "tags", "", "build tags for -pkg binaries")
	flag.BoolVar(&o.cgo, "cgo", false, "compile -pkg binaries with CGO_ENABLED=1 (needs -libroot; for another arch also CC)")
	flag.StringVar(&o.libRoot, "libroot", "", "root directory to copy a dynamic binary's loader and libraries from (/ for the host's glibc)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: vmtest -arch A -kernel K [-pkg P]... [-bin B]... [-- test args]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	o.args = flag.Args()
	if m.Kernel == "" || len(o.pkgs)+len(o.bins) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(m, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(m vmtest.Machine, o options) error {
	start := time.Now()
	dir := o.keep
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
	staticEnv := append(os.Environ(), "GOOS=linux", "GOARCH="+m.Arch, "CGO_ENABLED=0")
	initBin := o.init
	if initBin == "" {
		initBin = filepath.Join(dir, "init")
		if err := goCmd(staticEnv, "build", "-trimpath", "-o", initBin, "github.com/gorseq/rseq/internal/vmtest/cmd/vminit"); err != nil {
			return fmt.Errorf("building init: %w", err)
		}
	}
	if err := checkBinary(initBin, m.Arch, ""); err != nil {
		return err
	}
	testEnv := staticEnv
	if o.cgo {
		testEnv = append(os.Environ(), "GOOS=linux", "GOARCH="+m.Arch, "CGO_ENABLED=1")
	}
	type file struct{ name, src, testdata string }
	var files []file
	var testPkgs []pkg
	if len(o.pkgs) > 0 {
		var err error
		if testPkgs, err = testPackages(testEnv, o.tags, o.pkgs); err != nil {
			return err
		}
	}
	for _, p := range testPkgs {
		name := binName(p.path)
		out := filepath.Join(dir, name+".test")
		a := []string{"test", "-c", "-o", out}
		if o.tags != "" {
			a = append(a, "-tags", o.tags)
		}
		if err := goCmd(testEnv, append(a, p.path)...); err != nil {
			return fmt.Errorf("compiling %s: %w", p.path, err)
		}
		td := filepath.Join(p.dir, "testdata")
		if st, err := os.Stat(td); err != nil || !st.IsDir() {
			td = ""
		}
		files = append(files, file{name, out, td})
	}
	for _, b := range o.bins {
		files = append(files, file{strings.TrimSuffix(filepath.Base(b), ".test"), b, ""})
	}
	libs := map[string]bool{} // absolute paths inside the VM, found under o.libRoot
	for _, f := range files {
		if err := checkBinary(f.src, m.Arch, o.libRoot); err != nil {
			return err
		}
		if o.libRoot != "" {
			if err := sharedLibs(f.src, o.libRoot, libs); err != nil {
				return err
			}
		}
	}
	// Tell the tests where they run: TCG rarely interrupts a short
	// straight-line critical section unless every instruction is its own
	// translation block, so a test that insists on seeing an abort can
	// relax where GORSEQ_VMTEST=tcg.
	vmEnv := vmtest.EnvVM + "=" + vmtest.VMPlainTCG
	if m.OneInsnPerTB {
		vmEnv = vmtest.EnvVM + "=" + vmtest.VMOneInsnPerTB
	}
	plan := vmtest.Plan{Env: append([]string{vmEnv}, o.env...)}
	for _, f := range files {
		plan.Runs = append(plan.Runs, vmtest.Run{
			Name:           f.name,
			Path:           "/bin/" + f.name + ".test",
			Dir:            "/pkg/" + f.name,
			Args:           o.args,
			TimeoutSeconds: int(o.runTimeout / time.Second),
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
	for _, l := range slices.Sorted(maps.Keys(libs)) {
		w.CopyFile(l, 0o755, filepath.Join(o.libRoot, l))
	}
	for _, f := range files {
		w.CopyFile("/bin/"+f.name+".test", 0o755, f.src)
		w.Mkdir("/pkg/"+f.name, 0o755)
		if f.testdata != "" {
			if err := addTree(w, "/pkg/"+f.name+"/testdata", f.testdata); err != nil {
				return err
			}
		}
	}
	if err := errors.Join(w.Close(), out.Close()); err != nil {
		return err
	}
	fmt.Printf("vmtest: built %d binaries (%d shared libraries) and the initramfs in %.1fs; booting %s on %s\n",
		len(files), len(libs), time.Since(start).Seconds(), m.Arch, m.Kernel)
	res, err := vmtest.Boot(context.Background(), m, os.Stdout)
	for attempt := 2; attempt <= 3 && errors.Is(err, vmtest.ErrBootFailed); attempt++ {
		// An infrastructure failure, not a test result: no test ran.
		fmt.Printf("%v; booting again (attempt %d of 3)\n", err, attempt) // err says "vmtest: "
		res, err = vmtest.Boot(context.Background(), m, os.Stdout)
	}
	fmt.Printf("vmtest: VM ran %.1fs\n", res.Elapsed.Seconds())
	for _, r := range res.Results {
		status := "ok  "
		if r.Exit != 0 {
			status = "FAIL"
		}
		fmt.Printf("vmtest: %s %-24s exit=%d %.1fs\n", status, r.Name, r.Exit, r.Seconds)
	}
	if err != nil {
		return err
	}
	if !res.Done {
		return fmt.Errorf("vmtest: the VM stopped without its final %q line", strings.TrimSpace(vmtest.DonePrefix))
	}
	if len(res.Results) != len(files) {
		return fmt.Errorf("vmtest: %d results for %d binaries", len(res.Results), len(files))
	}
	if !res.OK() {
		return fmt.Errorf("vmtest: %d of %d failed", res.Failed, len(files))
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
// that needs a dynamic loader when there is no libRoot to copy it from.
func checkBinary(path, arch, libRoot string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elfMachine[arch] {
		return fmt.Errorf("%s is %v, not %s", path, f.Machine, arch)
	}
	if interp(f) != "" && libRoot == "" {
		return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0 or pass -libroot", path)
	}
	return nil
}

func interp(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				return strings.TrimRight(string(b), "\x00")
			}
		}
	}
	return ""
}

// Where the dynamic loader looks by default (Debian multiarch first).
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// sharedLibs adds to libs the loader and the libraries (recursively) that
// the ELF file path needs, as paths inside root.
func sharedLibs(path, root string, libs map[string]bool) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if ip := interp(f); ip != "" && !libs[ip] {
		if _, err := os.Stat(filepath.Join(root, ip)); err != nil {
			return fmt.Errorf("%s: loader: %w", path, err)
		}
		libs[ip] = true
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, n := range needed {
		found := false
		for _, d := range libDirs {
			l := d + "/" + n
			host := filepath.Join(root, l)
			ef, err := elf.Open(host)
			if err != nil {
				continue
			}
			ok := ef.Machine == f.Machine
			ef.Close()
			if !ok {
				continue
			}
			found = true
			if !libs[l] {
				libs[l] = true
				if err := sharedLibs(host, root, libs); err != nil {
					return err
				}
			}
			break
		}
		if !found {
			return fmt.Errorf("%s needs %s, not found under %s", path, n, root)
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
