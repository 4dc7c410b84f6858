package percpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/gorseq/rseq/internal/benchfloor"
)

// benchObj is a 256-byte object, the kind of buffer a pool is for.
type benchObj struct {
	buf [256]byte
}

// benchPool is the interface the benchmarks drive, so the three pools run the
// same loops.
type benchPool interface {
	get() *benchObj
	put(*benchObj)
}

type percpuBench struct{ p *Pool[benchObj] }

func (b percpuBench) get() *benchObj  { x, _ := b.p.Get(); return x }
func (b percpuBench) put(x *benchObj) { b.p.Put(x) }

type syncBench struct{ p *sync.Pool }

func (b syncBench) get() *benchObj  { return b.p.Get().(*benchObj) }
func (b syncBench) put(x *benchObj) { b.p.Put(x) }

// chanBench is the classic bounded pool: a buffered channel with
// non-blocking send and receive.
type chanBench struct{ c chan *benchObj }

func (b chanBench) get() *benchObj {
	select {
	case x := <-b.c:
		return x
	default:
		return new(benchObj)
	}
}

func (b chanBench) put(x *benchObj) {
	select {
	case b.c <- x:
	default:
	}
}

var benchImpls = []struct {
	name string
	make func() benchPool
}{
	{"percpu", func() benchPool {
		return percpuBench{&Pool[benchObj]{New: func() *benchObj { return new(benchObj) }}}
	}},
	{"percpu-perP", func() benchPool {
		// The same Pool on its fallback level (per-P stacks under
		// runtime.procPin), as it runs where rseq is unavailable.
		p := &Pool[benchObj]{New: func() *benchObj { return new(benchObj) }}
		p.state.Store(newPoolState[benchObj](0, 0, false))
		return percpuBench{p}
	}},
	{"sync.Pool", func() benchPool {
		return syncBench{&sync.Pool{New: func() any { return new(benchObj) }}}
	}},
	{"channel", func() benchPool {
		return chanBench{make(chan *benchObj, 64*runtime.GOMAXPROCS(0))}
	}},
}

// BenchmarkPool: one Get+Put pair per op, from every P (b.RunParallel).
// percpu and sync.Pool are called directly, as user code calls them (Get
// and Put inline into the loop); the others through benchPool.
// impl=asm-call-floor is the pair's floor: two empty asm calls with Get's
// and Put's hot op frames (internal/benchfloor).
func BenchmarkPool(b *testing.B) {
	b.Run("impl=percpu", func(b *testing.B) {
		p := &Pool[benchObj]{New: func() *benchObj { return new(benchObj) }}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x, _ := p.Get()
				x.buf[0]++
				p.Put(x)
			}
		})
	})
	b.Run("impl=asm-call-floor", func(b *testing.B) {
		// Two empty asm calls with poolGet's and poolPut's frames: what
		// the pair costs in calls alone, the critical sections excluded.
		// Each goroutine has its own object, as Pool's per-CPU caches
		// give each CPU its own: a shared one would measure false
		// sharing, not calls.
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			obj := new(benchObj)
			for pb.Next() {
				x := (*benchObj)(benchfloor.Get(unsafe.Pointer(obj)))
				x.buf[0]++
				benchfloor.Put(unsafe.Pointer(obj), unsafe.Pointer(x))
			}
		})
	})
	b.Run("impl=sync.Pool", func(b *testing.B) {
		p := &sync.Pool{New: func() any { return new(benchObj) }}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x := p.Get().(*benchObj)
				x.buf[0]++
				p.Put(x)
			}
		})
	})
	for _, impl := range benchImpls {
		if impl.name == "percpu" || impl.name == "sync.Pool" {
			continue
		}
		b.Run("impl="+impl.name, func(b *testing.B) {
			p := impl.make()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					x := p.get()
					x.buf[0]++
					p.put(x)
				}
			})
		})
	}
}

// BenchmarkPoolGCChurn models a server under allocation pressure: each
// goroutine (the -cpu value of them) handles requests that each Get
// churnHeld objects (held in a local array, so the benchmark adds no write
// barriers of its own), use them, and Put them back, while a background
// goroutine allocates nonstop (64 KiB blocks, 4 MiB live) so that a
// collection runs every few milliseconds. One op is one request (churnHeld
// Get+Put pairs). order=lifo puts the objects back in reverse order, as
// `defer p.Put(x)` does; order=fifo in the order they were taken. sync.Pool
// drops what was not taken again within two collections (its victim cache)
// and its New allocates it again (new/op: objects New made per request, the
// cost the pool exists to avoid; small here, since the requests reuse every
// object between collections); percpu.Pool keeps its objects, and while the
// collector marks its
// hot ops still pop (leaving the entry) and push an object back where its
// entry still holds it (a Put in LIFO order), others go to the per-P level.
// The allocator gets a P of its own (GOMAXPROCS is raised by one for the
// benchmark), so it runs beside the workers instead of waiting for the
// scheduler to preempt one. impl=no-pool-floor does the request's work on
// objects it owns, without a pool: the share of each op that the churn
// itself costs the worker, which no pool can go below. gc/Mop is
// collections per million requests; allocs/op counts the allocator's
// allocations too.
func BenchmarkPoolGCChurn(b *testing.B) {
	const churnHeld = 4
	run := func(b *testing.B, request func()) {
		workers := runtime.GOMAXPROCS(0)
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(workers + 1))
		var done atomic.Bool
		var churn sync.WaitGroup
		churn.Add(1)
		go func() {
			defer churn.Done()
			var live [64][]byte
			for i := 0; !done.Load(); i++ {
				live[i%len(live)] = make([]byte, 64<<10)
			}
		}()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		gc0 := ms.NumGC
		b.ResetTimer()
		var wg sync.WaitGroup
		for w := range workers {
			n := b.N / workers
			if w < b.N%workers {
				n++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n {
					request()
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		done.Store(true)
		churn.Wait()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.NumGC-gc0)/float64(b.N)*1e6, "gc/Mop")
	}
	for _, lifo := range []bool{true, false} {
		order := "order=fifo"
		if lifo {
			order = "order=lifo"
		}
		// slot is the held object the i-th Put returns.
		slot := func(i int) int {
			if lifo {
				return churnHeld - 1 - i
			}
			return i
		}
		b.Run(order+"/impl=no-pool-floor", func(b *testing.B) {
			// The request's own work on objects it already owns, no
			// pool: what the churn costs the worker (collector work,
			// stopped worlds, the scheduler), the floor under both
			// pools' rows.
			var own [churnHeld]*benchObj
			for i := range own {
				own[i] = new(benchObj)
			}
			run(b, func() {
				var held [churnHeld]*benchObj // on the stack: no write barriers
				for i := range held {
					x := own[i]
					x.buf[0]++
					held[i] = x
				}
				for i := range held {
					j := slot(i)
					held[j] = nil
				}
			})
		})
		b.Run(order+"/impl=percpu", func(b *testing.B) {
			var news atomic.Int64
			p := &Pool[benchObj]{New: func() *benchObj { news.Add(1); return new(benchObj) }}
			run(b, func() {
				var held [churnHeld]*benchObj // on the stack: no write barriers
				for i := range held {
					x, _ := p.Get()
					x.buf[0]++
					held[i] = x
				}
				for i := range held {
					j := slot(i)
					p.Put(held[j])
					held[j] = nil
				}
			})
			b.ReportMetric(float64(news.Load())/float64(b.N), "new/op")
		})
		b.Run(order+"/impl=sync.Pool", func(b *testing.B) {
			var news atomic.Int64
			p := &sync.Pool{New: func() any { news.Add(1); return new(benchObj) }}
			run(b, func() {
				var held [churnHeld]*benchObj // on the stack: no write barriers
				for i := range held {
					x := p.Get().(*benchObj)
					x.buf[0]++
					held[i] = x
				}
				for i := range held {
					j := slot(i)
					p.Put(held[j])
					held[j] = nil
				}
			})
			b.ReportMetric(float64(news.Load())/float64(b.N), "new/op")
		})
	}
}

// BenchmarkPoolAcrossGC: one op is a burst of 16 Get+Put pairs (16 objects
// held at once, then all put back), with two forced collections (an idle
// period) after every 4th op. sync.Pool empties across two collections and
// allocates the burst again (16 allocations per 4 ops); the per-CPU pool
// keeps its objects. ns/op is dominated by runtime.GC.
func BenchmarkPoolAcrossGC(b *testing.B) {
	const burst, gcEvery = 16, 4
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			p := impl.make()
			var held [burst]*benchObj
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for j := range held {
					held[j] = p.get()
				}
				for j := burst - 1; j >= 0; j-- {
					p.put(held[j])
					held[j] = nil
				}
				if i%gcEvery == gcEvery-1 {
					runtime.GC()
					runtime.GC()
				}
			}
		})
	}
}
