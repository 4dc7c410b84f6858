package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
cpu: AMD EPYC
BenchmarkCounterAdd/impl=percpu         	1000000000	         1.000 ns/op	       0 B/op
BenchmarkCounterAdd/impl=percpu         	1000000000	         3.000 ns/op
BenchmarkCounterAdd/impl=percpu         	1000000000	         2.000 ns/op
BenchmarkCounterAdd/impl=percpu-2       	1000000000	         0.5 ns/op
BenchmarkCounterAdd/impl=atomic-2       	1000000000	         8 ns/op
PASS
`

func TestParse(t *testing.T) {
	r, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.names) != 2 || r.names[0] != "CounterAdd/impl=percpu" {
		t.Fatalf("names %v", r.names)
	}
	if len(r.cpus) != 2 || r.cpus[0] != 1 || r.cpus[1] != 2 {
		t.Fatalf("cpus %v", r.cpus)
	}
	if got := r.ns["CounterAdd/impl=percpu"][1]; got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := r.ns["CounterAdd/impl=atomic"][2]; got != 8 {
		t.Errorf("atomic -2 = %v", got)
	}
	var tab bytes.Buffer
	bw := bufio.NewWriter(&tab)
	writeTable(bw, r)
	bw.Flush()
	if !strings.Contains(tab.String(), "| CounterAdd/impl=percpu | 2 | 0.5 | 500 | 2000 |") {
		t.Errorf("table:\n%s", tab.String())
	}
	var svg bytes.Buffer
	writeSVG(&svg, r, "x<y")
	if !strings.Contains(svg.String(), "<polyline") || !strings.Contains(svg.String(), "x&lt;y") {
		t.Errorf("svg:\n%s", svg.String())
	}
}

func TestSplitProcs(t *testing.T) {
	for in, want := range map[string]int{"A/b-16": 16, "A/b": 1, "A/impl=x-y-2": 2, "A/impl=x-y": 1} {
		if _, n := splitProcs(in); n != want {
			t.Errorf("splitProcs(%q) = %d, want %d", in, n, want)
		}
	}
}
