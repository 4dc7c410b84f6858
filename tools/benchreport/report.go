package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
)

// writeTable prints ns/op per benchmark and core count, and the aggregate
// throughput in millions of operations per second.
func writeTable(w *bufio.Writer, r *results) {
	for _, e := range r.env {
		fmt.Fprintf(w, "%s  \n", e)
	}
	fmt.Fprint(w, "\n| benchmark |")
	for _, c := range r.cpus {
		fmt.Fprintf(w, " -cpu %d ns/op |", c)
	}
	for _, c := range r.cpus {
		fmt.Fprintf(w, " -cpu %d Mops/s |", c)
	}
	fmt.Fprint(w, "\n|---|")
	fmt.Fprint(w, strings.Repeat("---|", 2*len(r.cpus)))
	fmt.Fprintln(w)
	for _, n := range r.names {
		fmt.Fprintf(w, "| %s |", n)
		for _, c := range r.cpus {
			if v, ok := r.ns[n][c]; ok {
				fmt.Fprintf(w, " %.3g |", v)
			} else {
				fmt.Fprint(w, " |")
			}
		}
		for _, c := range r.cpus {
			if v, ok := r.ns[n][c]; ok && v > 0 {
				fmt.Fprintf(w, " %.4g |", 1e3/v)
			} else {
				fmt.Fprint(w, " |")
			}
		}
		fmt.Fprintln(w)
	}
}

var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"}

// writeSVG draws aggregate throughput (log scale) against cores, one line
// per benchmark.
func writeSVG(w io.Writer, r *results, title string) {
	const W, H, left, right, top, bottom = 760.0, 440.0, 70.0, 230.0, 40.0, 50.0
	pw, ph := W-left-right, H-top-bottom
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, n := range r.names {
		for _, v := range r.ns[n] {
			if v > 0 {
				t := 1e3 / v
				lo, hi = math.Min(lo, t), math.Max(hi, t)
			}
		}
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	x := func(i int) float64 {
		if len(r.cpus) == 1 {
			return left + pw/2
		}
		return left + pw*float64(i)/float64(len(r.cpus)-1)
	}
	y := func(t float64) float64 {
		return top + ph*(1-(math.Log10(t)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="%g" y="22" font-size="15" font-weight="bold">%s: aggregate throughput vs cores</text>`+"\n", left, esc(title))
	for d := lo; d <= hi*1.0001; d *= 10 {
		fmt.Fprintf(w, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%g" y="%.1f" text-anchor="end">%g</text>`+"\n",
			left, left+pw, y(d), y(d), left-6, y(d)+4, d)
	}
	for i, c := range r.cpus {
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#eee"/><text x="%.1f" y="%g" text-anchor="middle">%d</text>`+"\n",
			x(i), x(i), top, top+ph, x(i), top+ph+18, c)
	}
	fmt.Fprintf(w, `<text x="%g" y="%g" text-anchor="middle">GOMAXPROCS (-cpu)</text>`+"\n", left+pw/2, H-10)
	fmt.Fprintf(w, `<text transform="translate(16 %g) rotate(-90)" text-anchor="middle">Mops/s (log)</text>`+"\n", top+ph/2)
	for k, n := range r.names {
		col := palette[k%len(palette)]
		var pts []string
		for i, c := range r.cpus {
			if v, ok := r.ns[n][c]; ok && v > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(1e3/v)))
				fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(i), y(1e3/v), col)
			}
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		ly := top + 16*float64(k)
		fmt.Fprintf(w, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="%s" stroke-width="3"/><text x="%g" y="%g">%s</text>`+"\n",
			W-right+12, W-right+32, ly, ly, col, W-right+38, ly+4, esc(n))
	}
	fmt.Fprintln(w, "</svg>")
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
