module github.com/gorseq/rseq/promrseq

go 1.26.0

require (
	github.com/gorseq/rseq v0.0.0
	github.com/prometheus/client_golang v1.25.0
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.72.0
	github.com/puzpuzpuz/xsync/v4 v4.5.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

// promrseq lives in gorseq's repository and builds against the checkout
// (the root module never requires client_golang); a module elsewhere
// requires published versions instead.
replace github.com/gorseq/rseq => ../
