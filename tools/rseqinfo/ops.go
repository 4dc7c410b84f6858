package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gorseq/rseq/percpu"
)

// printOps lists the generated critical sections: their descriptors as armed
// (start_ip, length, abort_ip), their failure codes, and how often the
// kernel restarted each one so far.
func printOps() {
	stats := percpu.OpStats()
	fmt.Printf("\nGenerated critical sections (%d)\n", len(stats))
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  function\tindex\tstart_ip\tlength\tabort_ip\taborts\tfailure codes")
	for _, s := range stats {
		d := s.Descriptor
		fmt.Fprintf(tw, "  %s\t%s\t%#x\t%d\t%#x\t%d\t%s\n", s.Func, s.Index, d.StartIP, d.PostCommitOffset, d.AbortIP, s.Aborts, strings.Join(s.Fails, "; "))
	}
	tw.Flush()
}
