// Command benchreport turns `go test -bench` output into a Markdown table
// and an SVG plot of aggregate throughput against cores, for the README.
//
//	go test -run '^$' -bench 'CounterAdd' -cpu 1,2,4,8,16 -count 5 ./percpu | tee bench.txt
//	go run ./tools/benchreport -svg docs/counter.svg -title "Counter.Add" < bench.txt
//
// Benchmarks are grouped by name without the -N GOMAXPROCS suffix; the
// median of repeated runs is used. For b.RunParallel benchmarks ns/op is
// wall time per operation across all goroutines, so aggregate throughput is
// 1e9/ns_per_op operations per second.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	svgPath := flag.String("svg", "", "write an SVG plot of throughput vs cores to this file")
	title := flag.String("title", "throughput", "plot title")
	flag.Parse()
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	if len(res.names) == 0 {
		fmt.Fprintln(os.Stderr, "benchreport: no benchmark lines on stdin")
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	writeTable(w, res)
	w.Flush()
	if *svgPath != "" {
		f, err := os.Create(*svgPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		writeSVG(f, res, *title)
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
	}
}
