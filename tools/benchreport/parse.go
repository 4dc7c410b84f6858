package main

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// results holds median ns/op per benchmark name and GOMAXPROCS.
type results struct {
	names []string // in order of first appearance
	cpus  []int    // sorted
	ns    map[string]map[int]float64
	env   []string // goos/goarch/cpu lines
}

// parse reads `go test -bench` output.
func parse(r io.Reader) (*results, error) {
	samples := map[string]map[int][]float64{}
	res := &results{ns: map[string]map[int]float64{}}
	seenCPU := map[int]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"goos:", "goarch:", "cpu:"} {
			if strings.HasPrefix(line, p) {
				res.env = append(res.env, line)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		var ns float64
		ok := false
		for i := 2; i+1 < len(f); i++ {
			if f[i+1] == "ns/op" {
				v, err := strconv.ParseFloat(f[i], 64)
				ns, ok = v, err == nil
				break
			}
		}
		if !ok {
			continue
		}
		name, procs := splitProcs(strings.TrimPrefix(f[0], "Benchmark"))
		if samples[name] == nil {
			samples[name] = map[int][]float64{}
			res.names = append(res.names, name)
		}
		samples[name][procs] = append(samples[name][procs], ns)
		seenCPU[procs] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for c := range seenCPU {
		res.cpus = append(res.cpus, c)
	}
	sort.Ints(res.cpus)
	for name, byCPU := range samples {
		res.ns[name] = map[int]float64{}
		for c, v := range byCPU {
			res.ns[name][c] = median(v)
		}
	}
	return res, nil
}

// splitProcs splits "Name/sub-8" into ("Name/sub", 8); no suffix means 1.
func splitProcs(s string) (string, int) {
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil && n > 0 {
			return s[:i], n
		}
	}
	return s, 1
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
