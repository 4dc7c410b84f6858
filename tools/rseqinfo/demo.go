package main

import "time"

// runDemo counts on every CPU for d and prints the per-CPU totals (filled in
// with percpu.Counter).
func runDemo(d time.Duration) {}
