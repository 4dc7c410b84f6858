package percpu

import (
	"fmt"

	"github.com/gorseq/rseq/rseqabi"
	"github.com/gorseq/rseq/rseqabi/libc"
	"github.com/gorseq/rseq/rseqop"
)

// process is what rseqop decided for the process and whether percpu's own
// generated ops passed validation (zopErr, from zops_table.go).
type process struct {
	mode     rseqop.Mode
	reason   string // why ModeNone or why the fast path is off, or ""
	features rseqabi.Features
	libc     libc.Info
	slots    int   // possible CPUs: the number of per-CPU slots
	useMMCID bool  // index per-CPU data by mm_cid rather than cpu_id
	fastPath bool  // percpu's generated critical sections may run
	fenceErr error // why rseq fences (membarrier) are unavailable, or nil
	opsErr   error // why percpu's generated ops failed validation, or nil
}

var proc process

func init() {
	proc = fromStatus(rseqop.Status(), zopErr)
	counterRseq = proc.fastPath && proc.fenceErr == nil
	arenaSlots = proc.slots
	setHotGlobals(&proc)
}

// fromStatus combines the process status and the result of percpu's own
// Register.
func fromStatus(s rseqop.ProcessStatus, opsErr error) process {
	p := process{
		mode: s.Mode, reason: s.Reason, features: s.Features, libc: s.Libc, slots: s.Slots,
		useMMCID: s.Index == "mm_cid", fastPath: s.FastPath, fenceErr: s.FenceErr,
	}
	if p.fastPath && opsErr != nil {
		p.opsErr, p.fastPath = opsErr, false
		p.reason = fmt.Sprintf("generated critical sections rejected: %v", opsErr)
	}
	return p
}

// slowPath runs when a generated op found no usable rseq area on the
// calling thread: it registers the thread if it can (rseqop.SlowPath) and
// reports whether the op is worth retrying; false sends the caller to its
// fallback.
func slowPath() bool { return proc.fastPath && zopSlowPath() }
