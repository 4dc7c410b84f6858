package percpu_test

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/gorseq/rseq/percpu"
)

// latencyHistogram counts durations in power-of-two buckets of
// microseconds: bucket i holds durations below 2^i µs.
type latencyHistogram struct {
	buckets [16]int64
}

func (h *latencyHistogram) observe(d time.Duration) {
	i := min(bits.Len64(uint64(d.Microseconds())), len(h.buckets)-1)
	h.buckets[i]++
}

// A sharded histogram: every goroutine records into its CPU's copy under
// that copy's lock, and Merge adds the copies up when a report is due.
func ExampleSharded_histogram() {
	var latencies percpu.Sharded[latencyHistogram]

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				d := time.Duration((g*1000+i)%64) * time.Microsecond
				latencies.Update(func(h *latencyHistogram) { h.observe(d) })
			}
		})
	}
	wg.Wait()

	total := percpu.Merge(&latencies, latencyHistogram{}, func(acc latencyHistogram, h *latencyHistogram) latencyHistogram {
		for i, n := range h.buckets {
			acc.buckets[i] += n
		}
		return acc
	})
	for i, n := range total.buckets[:7] {
		fmt.Printf("< %2d µs: %d\n", 1<<i, n)
	}
	// Output:
	// <  1 µs: 125
	// <  2 µs: 125
	// <  4 µs: 250
	// <  8 µs: 500
	// < 16 µs: 1000
	// < 32 µs: 2000
	// < 64 µs: 4000
}

// A sharded map of counts: each shard holds its own map, created by the
// first Update that needs it; All walks the shards to merge them.
func ExampleSharded_mapOfCounts() {
	var hits percpu.Sharded[map[string]int]

	paths := []string{"/", "/login", "/", "/api", "/", "/api"}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, p := range paths {
				hits.Update(func(m *map[string]int) {
					if *m == nil {
						*m = make(map[string]int)
					}
					(*m)[p]++
				})
			}
		})
	}
	wg.Wait()

	total := map[string]int{}
	for m := range hits.All() { // each shard is locked while its body runs
		for p, n := range *m {
			total[p] += n
		}
	}
	keys := make([]string, 0, len(total))
	for p := range total {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		fmt.Printf("%-6s %d\n", p, total[p])
	}
	// Output:
	// /      12
	// /api   8
	// /login 4
}

// A per-CPU random source: math/rand/v2 generators are not safe for
// concurrent use, so each shard keeps its own, seeded on first use, and
// goroutines draw from their CPU's generator without sharing one lock.
func ExampleSharded_randomSource() {
	var sources percpu.Sharded[*rand.Rand]
	var seed sync.Mutex // only to hand out distinct seeds
	next := uint64(1)

	intN := func(n int) (v int) {
		sources.Update(func(r **rand.Rand) {
			if *r == nil {
				seed.Lock()
				*r = rand.New(rand.NewPCG(next, 0x9e3779b97f4a7c15))
				next++
				seed.Unlock()
			}
			v = (*r).IntN(n)
		})
		return v
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := make([]bool, 10)
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				v := intN(10)
				mu.Lock()
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n := 0
	for _, ok := range seen {
		if ok {
			n++
		}
	}
	fmt.Printf("values seen: %d of %d\n", n, len(seen))
	// Output: values seen: 10 of 10
}
