// Command rseqinfo shows how this machine and this build use Linux
// restartable sequences: what the kernel offers, what the C library did,
// the ownership mode gorseq chose and why, the threads it registered, and a
// short live demonstration of per-CPU counting.
//
//	go run ./tools/rseqinfo              # default build (cgo: glibc's areas)
//	CGO_ENABLED=0 go run ./tools/rseqinfo  # pure Go: the library's own areas
//	GLIBC_TUNABLES=glibc.pthread.rseq=0 go run ./tools/rseqinfo  # legacy protocol
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
)

func main() {
	goroutines := flag.Int("goroutines", 4, "pinned goroutines to show")
	demo := flag.Duration("demo", 500*time.Millisecond, "length of the live per-CPU counting demonstration (0: skip)")
	flag.Parse()

	s := percpu.Status()
	fmt.Printf("gorseq on %s/%s, %s, GOMAXPROCS %d\n\n", runtime.GOOS, runtime.GOARCH, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("Kernel")
	fmt.Printf("  rseq features:   %v\n", s.Features)
	fmt.Printf("  possible CPUs:   %d slots per structure (runtime.NumCPU %d)\n", s.Slots, runtime.NumCPU())
	fmt.Printf("  signature:       %#08x\n", rseqabi.Signature)
	if s.FenceErr != nil {
		fmt.Printf("  rseq fence:      unavailable: %v\n", s.FenceErr)
	} else if s.FenceLost != nil {
		fmt.Printf("  rseq fence:      lost after start-up (%v): fences stop the world\n", s.FenceLost)
	} else {
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
	fmt.Printf("  mode:            %s\n", s.Mode)
	fmt.Printf("  fast path:       %v\n", s.FastPath)
	if s.Reason != "" {
		fmt.Printf("  reason:          %s\n", s.Reason)
	}
	fmt.Printf("  index:           %s\n", s.Index)

	showPinned(*goroutines)
	printOps()
	if *demo > 0 {
		runDemo(*demo)
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
			th := percpu.Pin()
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
	for _, t := range percpu.Threads() {
		fmt.Fprintf(tw, "  %d\t%s\t%v\t%d\t%v\t%d\n", t.TID, t.Mode, t.Registered, t.Pins, t.Persistent, t.CPU)
	}
	tw.Flush()
}
