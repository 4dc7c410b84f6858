module github.com/gorseq/rseq/examples/librseq

go 1.26.0

require (
	github.com/gorseq/rseq v0.0.0
	github.com/gorseq/rseq/gen v0.0.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/mmcloughlin/avo v0.5.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)

// This example lives in gorseq's repository and builds against the
// checkout; a module elsewhere requires published versions instead.
replace (
	github.com/gorseq/rseq => ../..
	github.com/gorseq/rseq/gen => ../../gen
)
