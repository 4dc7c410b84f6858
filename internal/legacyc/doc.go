// Package legacyc is a test fixture: a C library that shares rseq through the
// 2020 __rseq_abi/__rseq_refcount protocol. It is empty without cgo.
package legacyc
