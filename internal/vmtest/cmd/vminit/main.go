//go:build linux

// Command vminit is the /init of the initramfs that vmtest boots. It mounts
// /proc, /sys, /dev and /tmp, brings the loopback interface up, reports what
// the kernel offers for rseq, runs the programs listed in /vmtest.json one
// after another with their output on the console, prints one result line per
// program and a final line, and powers the machine off. It needs nothing but
// the files in the initramfs.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gorseq/rseq/internal/vmtest"
)

func main() {
	defer powerOff()
	defer func() {
		if r := recover(); r != nil {
			fmt.Printf("vminit: panic: %v\n", r)
		}
	}()
	mounts()
	loopbackUp()
	info()
	plan, err := readPlan()
	if err != nil {
		fmt.Printf("vminit: %v\n", err)
		fmt.Println(vmtest.FormatDone(0, 1))
		return
	}
	failed := 0
	for _, r := range plan.Runs {
		res := run(r, plan.Env)
		if res.Exit != 0 {
			failed++
		}
		fmt.Println(vmtest.FormatResult(res))
	}
	fmt.Println(vmtest.FormatDone(len(plan.Runs), failed))
}

func mounts() {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fs, 0, ""); err != nil {
			fmt.Printf("vminit: mount %s: %v\n", m.dir, err)
		}
	}
	os.Symlink("/proc/self/fd", "/dev/fd")
}

// loopbackUp brings the loopback interface up, as every init does: the
// kernel creates lo down, and tests that serve HTTP on 127.0.0.1 (promrseq's
// Example_server) need it. The VM has no other network.
func loopbackUp() {
	if err := setLoopbackUp(); err != nil {
		fmt.Printf("vminit: loopback: %v\n", err)
	}
}

func setLoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func readPlan() (*vmtest.Plan, error) {
	b, err := os.ReadFile(vmtest.PlanPath)
	if err != nil {
		return nil, err
	}
	var p vmtest.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %v", vmtest.PlanPath, err)
	}
	return &p, nil
}

func run(r vmtest.Run, env []string) vmtest.Result {
	res := vmtest.Result{Name: r.Name, Exit: -1}
	ctx := context.Background()
	if r.TimeoutSeconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.TimeoutSeconds)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, r.Path, r.Args...)
	cmd.Dir = r.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = append([]string{"PATH=/bin", "HOME=/tmp", "TMPDIR=/tmp", "USER=root"}, env...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stdout
	cmd.WaitDelay = 5 * time.Second
	fmt.Printf("%srun %s %s\n", vmtest.InfoPrefix, r.Name, strings.Join(r.Args, " "))
	start := time.Now()
	err := cmd.Run()
	res.Seconds = time.Since(start).Seconds()
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.Exit = 0
	case ctx.Err() != nil:
		fmt.Printf("vminit: %s: killed after %ds\n", r.Name, r.TimeoutSeconds)
	case errors.As(err, &ee):
		res.Exit = ee.ExitCode() // -1 if killed by a signal
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Printf("vminit: %s: killed by %v\n", r.Name, ws.Signal())
		}
	default:
		fmt.Printf("vminit: %s: %v\n", r.Name, err)
	}
	return res
}

func powerOff() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("vminit: power off: %v\n", err)
	}
	select {} // init must not exit
}

// info prints what the kernel offers: release, CPUs, the rseq auxv entries
// and a raw rseq registration on this thread.
func info() {
	var u unix.Utsname
	unix.Uname(&u)
	var set unix.CPUSet
	unix.SchedGetaffinity(0, &set)
	fmt.Printf("%skernel=%s machine=%s cpus=%d goarch=%s\n", vmtest.InfoPrefix,
		unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]), set.Count(), runtime.GOARCH)
	if v, err := os.ReadFile("/proc/version"); err == nil {
		fmt.Printf("%sversion=%s\n", vmtest.InfoPrefix, strings.TrimSpace(string(v)))
	}
	fmt.Printf("%sauxv %s\n", vmtest.InfoPrefix, auxvInfo())
	fmt.Printf("%srseq %s\n", vmtest.InfoPrefix, rseqInfo())
}

const (
	atRseqFeatureSize = 27
	atRseqAlign       = 28
)

func auxvInfo() string {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	found := map[uint64]uint64{}
	for i := 0; i+16 <= len(b); i += 16 {
		k, v := binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
		if k == 0 {
			break
		}
		found[k] = v
	}
	show := func(name string, k uint64) string {
		if v, ok := found[k]; ok {
			return fmt.Sprintf("%s=%d", name, v)
		}
		return name + "=absent"
	}
	return show("AT_RSEQ_FEATURE_SIZE", atRseqFeatureSize) + " " + show("AT_RSEQ_ALIGN", atRseqAlign)
}

var signature = map[string]uint32{"amd64": 0x53053053, "arm64": 0xd428bc00}

// rseqInfo registers a page-aligned area on the locked main thread, reads
// what the kernel wrote (node_id and mm_cid are preset to a value no kernel
// writes, so "unwritten" means the kernel does not offer them), unregisters.
func rseqInfo() string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return "mmap: " + err.Error()
	}
	defer unix.Munmap(mem)
	area := unsafe.Pointer(&mem[0])
	field := func(off uintptr) *uint32 { return (*uint32)(unsafe.Add(area, off)) }
	const unset = 0xfffffff0
	*field(4) = 0xffffffff // cpu_id: RSEQ_CPU_ID_UNINITIALIZED
	*field(20) = unset     // node_id
	*field(24) = unset     // mm_cid
	sig := signature[runtime.GOARCH]
	if _, _, e := unix.RawSyscall6(unix.SYS_RSEQ, uintptr(area), 32, 0, uintptr(sig), 0, 0); e != 0 {
		return fmt.Sprintf("register=%v", e)
	}
	unix.Getpid() // one more return to user space
	show := func(name string, off uintptr) string {
		if v := *field(off); v != unset {
			return fmt.Sprintf(" %s=%d", name, int32(v))
		}
		return " " + name + "=unwritten"
	}
	s := "register=ok" + show("cpu_id", 4) + show("node_id", 20) + show("mm_cid", 24)
	if _, _, e := unix.RawSyscall6(unix.SYS_RSEQ, uintptr(area), 32, 1, uintptr(sig), 0, 0); e != 0 {
		s += fmt.Sprintf(" unregister=%v", e)
	}
	return s
}
