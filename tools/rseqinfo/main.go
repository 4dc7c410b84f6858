// Command rseqinfo shows how this machine and this build use Linux
// restartable sequences: whether gorseq's per-CPU fast path is on and why,
// where the threads' rseq areas come from, and a short live demonstration of
// per-CPU counting. -v adds the details: what the kernel and the C library
// offer, the threads gorseq knows, and every generated critical section.
//
//	go run ./tools/rseqinfo              # default build (cgo: glibc's areas)
//	CGO_ENABLED=0 go run ./tools/rseqinfo  # pure Go: the library's own areas
//	GLIBC_TUNABLES=glibc.pthread.rseq=0 go run ./tools/rseqinfo  # legacy protocol
//	go run ./tools/rseqinfo -v           # the details
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gorseq/rseq/percpu"
	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqop"
)

func main() {
	verbose := flag.Bool("v", false, "details: kernel, C library, threads, critical sections")
	goroutines := flag.Int("goroutines", 4, "pinned goroutines to show with -v")
	demo := flag.Duration("demo", 500*time.Millisecond, "length of the live per-CPU counting demonstration (0: skip)")
	flag.Parse()

	s := percpu.Status()
	fmt.Printf("gorseq on %s/%s, %s, %d CPUs\n\n", runtime.GOOS, runtime.GOARCH, runtime.Version(), runtime.NumCPU())
	summary(s)
	if *verbose {
		details(s)
		showPinned(*goroutines)
		printOps()
	}
	if *demo > 0 {
		runDemo(*demo)
	}
	if !*verbose {
		fmt.Println("\nDetails (kernel, C library, threads, critical sections): rseqinfo -v")
	}
}

// summary says in plain words what the status means for a program.
func summary(s rseqop.ProcessStatus) {
	if s.FastPath {
		fmt.Println("  Per-CPU fast path: on. Counter, Pool and Sharded update this CPU's data with")
		fmt.Println("  plain loads and stores that the kernel restarts if the thread is interrupted.")
	} else {
		fmt.Println("  Per-CPU fast path: off. Everything still works, on slower fallbacks, because:")
		fmt.Printf("    %s\n", s.Reason)
	}
	switch s.Mode {
	case rseqop.ModeLibc:
		fmt.Println("  Registration: glibc registers every thread; gorseq uses it (mode libc).")
	case rseqop.ModeShared:
		fmt.Println("  Registration: shared with C libraries through __rseq_abi (mode shared).")
	case rseqop.ModeSelf:
		fmt.Println("  Registration: gorseq registers its own area on each thread (mode self).")
	case rseqop.ModeNone:
		fmt.Println("  Registration: none (mode none).")
	}
	if s.Index == "mm_cid" {
		fmt.Printf("  Slots: %d per structure, one per concurrency ID (mm_cid, Linux 6.3+).\n", s.Slots)
	} else {
		fmt.Printf("  Slots: %d per structure, one per CPU number (cpu_id: no mm_cid here).\n", s.Slots)
	}
	switch {
	case !s.FastPath:
	case s.FenceErr != nil:
		fmt.Println("  Counter.Reset and Sharded: on their fallbacks (no rseq fence here).")
	case s.FenceLost != nil:
		fmt.Println("  Counter.Reset and Sharded.Range: fences stop the world (membarrier lost).")
	default:
		fmt.Println("  Counter.Reset and Sharded.Range: exact without stopping writers (rseq fences).")
	}
	if s.StrayThreads > 0 {
		fmt.Printf("  %d threads cannot use rseq (another owner's registration): fallbacks.\n", s.StrayThreads)
	}
}

// details prints what the kernel and the C library offer and gorseq's
// choices, in the kernel's terms.
func details(s rseqop.ProcessStatus) {
	fmt.Println("\nKernel")
	fmt.Printf("  rseq features:   %v\n", s.Features)
	fmt.Printf("  possible CPUs:   %d slots per structure (runtime.NumCPU %d)\n", s.Slots, runtime.NumCPU())
	fmt.Printf("  signature:       %#08x\n", rseqabi.Signature)
	switch {
	case s.FenceErr != nil:
		fmt.Printf("  rseq fence:      unavailable: %v\n", s.FenceErr)
	case s.FenceLost != nil:
		fmt.Printf("  rseq fence:      lost after start-up (%v): fences stop the world\n", s.FenceLost)
	default:
		fmt.Printf("  rseq fence:      membarrier PRIVATE_EXPEDITED_RSEQ registered\n")
	}
	fmt.Printf("  slice extension: %v\n", s.SliceExtension)
	fmt.Println("C library")
	switch {
	case !s.Libc.Cgo:
		fmt.Println("  none (built without cgo): threads are created by the Go runtime without libc")
	case !s.Libc.GlibcSymbols:
		fmt.Println("  cgo, but no __rseq_offset/__rseq_size (musl or glibc < 2.35)")
	default:
		fmt.Printf("  glibc: __rseq_offset %d, __rseq_size %d, __rseq_flags %d (registers: %v)\n",
			s.Libc.RseqOffset, s.Libc.RseqSize, s.Libc.RseqFlags, s.Libc.GlibcRegisters())
	}
	fmt.Println("gorseq")
	fmt.Printf("  mode: %s; fast path: %v; index: %s\n", s.Mode, s.FastPath, s.Index)
	if s.Reason != "" {
		fmt.Printf("  reason: %s\n", s.Reason)
	}
}

// showPinned pins a few goroutines at once and shows what each thread owns.
func showPinned(n int) {
	fmt.Printf("\nPinned goroutines (%d at once)\n", n)
	type row struct {
		g             int
		tid, cpu, cid int
		node          int
		err           error
	}
	rows := make([]row, n)
	var ready, release sync.WaitGroup
	ready.Add(n)
	release.Add(1)
	for i := range rows {
		go func() {
			th := rseqop.Pin()
			defer th.Unpin()
			rows[i] = row{g: i, tid: rseqabi.Gettid(), cpu: th.CPU(), cid: th.MMCID(), node: th.NodeID(), err: th.Err()}
			ready.Done()
			release.Wait()
		}()
	}
	ready.Wait()
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  goroutine\ttid\tcpu_id\tmm_cid\tnode\tregistration")
	for _, r := range rows {
		reg := "registered"
		if r.err != nil {
			reg = r.err.Error()
		}
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%s\n", r.g, r.tid, r.cpu, r.cid, r.node, reg)
	}
	tw.Flush()
	defer release.Done()
	fmt.Println("\nThreads known to gorseq (while pinned)")
	tw = tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  tid\towner\tregistered\tpins\tpersistent\tcpu_id")
	for _, t := range rseqop.Threads() {
		fmt.Fprintf(tw, "  %d\t%s\t%v\t%d\t%v\t%d\n", t.TID, t.Mode, t.Registered, t.Pins, t.Persistent, t.CPU)
	}
	tw.Flush()
}
