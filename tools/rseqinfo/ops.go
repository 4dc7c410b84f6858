package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/gorseq/rseq/percpu"
)

// printOps lists the generated critical sections: their descriptors as armed
// (start_ip, length, abort_ip), how many failure codes each has, and how
// often the kernel restarted each one so far.
func printOps() {
	stats := percpu.OpStats()
	fmt.Printf("\nGenerated critical sections (%d)\n", len(stats))
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  op\tstart_ip\tlength\tabort_ip\tfailures\taborts")
	for _, s := range stats {
		d := s.Descriptor
		fmt.Fprintf(tw, "  %s\t%#x\t%d\t%#x\t%d\t%d\n", s.Name, d.StartIP, d.PostCommitOffset, d.AbortIP, len(s.Fails), s.Aborts)
	}
	tw.Flush()
}
