//go:build !linux

package rseqop

import "os"

// Outside Linux there is no rseq: the process is in ModeNone and these only
// keep the bookkeeping compiling.

func gettid() int { return os.Getpid() }

func threadExited(tid int) bool { return false }

func mmapAnon(n int) ([]byte, error) { return make([]byte, n), nil }

func getcpu() (cpu, node int) { return -1, -1 }
