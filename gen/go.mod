module github.com/gorseq/rseq/gen

go 1.26.0

require (
	github.com/gorseq/rseq v0.0.0
	github.com/mmcloughlin/avo v0.5.0
	golang.org/x/tools v0.52.0
)

require (
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

// The generator and the runtime it generates for (rseqop) are developed
// together: the generator's tests build against this checkout.
replace github.com/gorseq/rseq => ../
