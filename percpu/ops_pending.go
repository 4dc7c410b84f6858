package percpu

import "errors"

// initOps is a placeholder until the generator lands: gen/ replaces this file
// with the descriptor scan and validation (ops_descriptors.go). Delete this
// file when adding the real initOps.
func initOps() error { return errors.New("generated ops not built yet") }
