package percpu_test

import (
	"bytes"
	"io"
	"os"
	"time"

	"github.com/gorseq/rseq/percpu"
)

// bufPool keeps buffers per CPU: Get and Put touch only this CPU's cache.
// Unlike sync.Pool it keeps its objects across garbage collections (at most
// Cap of them), so steady traffic allocates nothing.
var bufPool = percpu.Pool[bytes.Buffer]{
	// New makes a buffer when the pool is empty.
	New: func() *bytes.Buffer { return new(bytes.Buffer) },
}

// timeNow is a fake version of time.Now for the example's output.
func timeNow() time.Time {
	return time.Unix(1136214245, 0)
}

// Log writes one line, built in a pooled buffer.
func Log(w io.Writer, key, val string) {
	b, _ := bufPool.Get() // ok is always true: New is set
	b.Reset()
	// Replace this with time.Now() in a real logger.
	b.WriteString(timeNow().UTC().Format(time.RFC3339))
	b.WriteByte(' ')
	b.WriteString(key)
	b.WriteByte('=')
	b.WriteString(val)
	b.WriteByte('\n')
	w.Write(b.Bytes())
	bufPool.Put(b) // back on this CPU's cache for the next Log
}

func ExamplePool() {
	Log(os.Stdout, "path", "/search?q=flowers")
	// Output: 2006-01-02T15:04:05Z path=/search?q=flowers
}
