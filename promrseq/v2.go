package promrseq

// V2 holds the constructors that take client_golang's *VecOpts structs
// (constrained label values), as prometheus.V2 does.
var V2 v2

type v2 struct{}
