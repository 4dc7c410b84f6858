package percpu_test

import (
	"expvar"
	"fmt"
	"sync"

	"github.com/gorseq/rseq/percpu"
)

// requests counts the requests this process served. Every handler adds to
// it at once, each on its own CPU's slot.
var requests percpu.Counter

// A *Counter is an expvar.Var: its String method returns the total.
var _ expvar.Var = (*percpu.Counter)(nil)

func init() {
	// Served as "requests" in /debug/vars (expvar's handler on
	// http.DefaultServeMux) and by expvar.Get.
	expvar.Publish("requests", &requests)
}

func handle() {
	requests.Inc()
	// ... serve the request ...
}

func ExampleCounter() {
	var hits percpu.Counter // the zero value is ready to use
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				hits.Inc() // one critical section on this CPU's slot
			}
		})
	}
	wg.Wait()
	// Load observes every Add that happened before it (here: before
	// wg.Wait returned) and sums the slots.
	fmt.Println(hits.Load())
	// Output: 8000
}

func ExampleCounter_expvar() {
	requests.Reset()
	for range 5 {
		handle()
	}
	fmt.Println("requests:", expvar.Get("requests")) // what /debug/vars reports
	fmt.Println(&requests)                           // a fmt.Stringer too

	// Reset returns the total and starts again from zero, exactly: each
	// concurrent Add lands either in the total returned or in the counter
	// afterwards.
	fmt.Println("reset:", requests.Reset(), "now:", requests.Load())
	// Output:
	// requests: 5
	// 5
	// reset: 5 now: 0
}
