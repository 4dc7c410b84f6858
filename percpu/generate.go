package percpu

// The per-CPU operations (zops_*) are generated from their descriptions in
// gen/ops; see gen/README.md.
//go:generate go run ../gen -dir .
