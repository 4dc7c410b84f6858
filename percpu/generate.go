package percpu

// The per-CPU operations (zops_*) are generated from their descriptions in
// gen/ops; see gen/README.md.
//
// The generator is its own module (gen/go.mod), so that importing percpu
// never pulls in Avo; go -C runs its command there, on this checkout.
//
//go:generate go -C ../gen run ./cmd/genpercpu -dir ../percpu
