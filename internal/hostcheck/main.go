// Command hostcheck reports what this host can do for make test's legs
// (make check-tools prints it): whether it runs linux/386 binaries, and
// whether KVM is usable (the VM legs run under TCG either way).
//
//	go run ./internal/hostcheck        # the report, one line per capability
//	go run ./internal/hostcheck -386   # exit 0 if linux/386 binaries run here, else 1 with the reason
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// probeArg makes the program print probeOK and exit: what the 386 build of
// this program does when the host runs it.
const (
	probeArg = "-probe"
	probeOK  = "hostcheck: ran"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == probeArg {
		fmt.Println(probeOK)
		return
	}
	only386 := flag.Bool("386", false, "exit 0 if linux/386 binaries run on this host, else print why not and exit 1")
	flag.Parse()
	err := run386()
	if *only386 {
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		return
	}
	if err != nil {
		fmt.Printf("host: linux/386 binaries: cannot run here (%v): make test-386 builds and vets them only\n", err)
	} else {
		fmt.Println("host: linux/386 binaries: run natively: make test-386 runs them")
	}
	fmt.Printf("host: KVM: %s; the VM legs run under TCG (qemu's software emulation) on every host: their abort proofs use TCG's one-instruction-per-block mode\n", kvm())
}

// run386 builds this program for linux/386 and runs it.
func run386() error {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "386") {
		return fmt.Errorf("a %s/%s host", runtime.GOOS, runtime.GOARCH)
	}
	dir, err := os.MkdirTemp("", "hostcheck")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src, err := os.Getwd()
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "probe386")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(src, "internal", "hostcheck")
	if _, err := os.Stat(build.Dir); err != nil {
		build.Dir = src // run from its own directory
	}
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=386", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building a linux/386 probe: %v: %s", err, strings.TrimSpace(string(out)))
	}
	out, err := exec.Command(bin, probeArg).CombinedOutput()
	var errno interface{ Error() string }
	switch {
	case err == nil && strings.TrimSpace(string(out)) == probeOK:
		return nil
	case errors.As(err, &errno) && strings.Contains(err.Error(), "exec format error"):
		return errors.New("exec format error: this kernel has no 32-bit x86 emulation (CONFIG_IA32_EMULATION off or disabled at boot)")
	case err != nil:
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return fmt.Errorf("the probe printed %q", out)
}

// kvm says whether /dev/kvm can be opened.
func kvm() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "absent (no /dev/kvm)"
	case err != nil:
		return fmt.Sprintf("not usable (%v)", err)
	}
	f.Close()
	return "/dev/kvm opens (not used)"
}
