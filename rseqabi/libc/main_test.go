//go:build cgo && linux

package libc

import (
	"os"
	"runtime"
	"testing"
)

func TestMain(m *testing.M) {
	// Keep the main thread for the main goroutine, which only waits for the
	// tests: a test goroutine that exits locked then always takes its own
	// thread with it (the runtime never ends the main thread, it wedges it),
	// which TestThreadWatch relies on.
	runtime.LockOSThread()
	os.Exit(m.Run())
}
