package promrseq

// The tests of client_golang v1.25.0's prometheus/vec_test.go, ported to
// this package's CounterVec and HistogramVec (Copyright 2014 The Prometheus
// Authors, Apache License 2.0). client_golang runs most of them on a
// GaugeVec, whose Set becomes Add here; they count the vector's metrics by
// collecting them where the originals read MetricVec's map. The
// "WithCollisions" variants replace MetricVec's unexported hash function,
// which is client_golang's own code (these vectors are its MetricVec) and
// tested there.

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func xPrefix(s string) string { return "x" + s }

// testVecs returns an unconstrained and a constrained CounterVec with the
// label names, the second passing the values of label constrained through
// constrain, as the originals' *WithConstraints variants do.
func testVecs(names []string, constrained string, constrain func(string) string) map[string]*CounterVec {
	opts := prometheus.CounterOpts{Name: "test", Help: "helpless"}
	labels := make(prometheus.ConstrainedLabels, len(names))
	for i, n := range names {
		labels[i].Name = n
		if n == constrained {
			labels[i].Constraint = constrain
		}
	}
	return map[string]*CounterVec{
		"unconstrained": NewCounterVec(opts, names),
		"constrained":   V2.NewCounterVec(prometheus.CounterVecOpts{CounterOpts: opts, VariableLabels: labels}),
	}
}

func TestDelete(t *testing.T) {
	for name, vec := range testVecs([]string{"l1", "l2"}, "l2", xPrefix) {
		t.Run(name, func(t *testing.T) {
			deleted := func(labels prometheus.Labels, want bool) {
				t.Helper()
				if got := vec.Delete(labels); got != want {
					t.Errorf("Delete(%v) = %v, want %v", labels, got, want)
				}
			}
			deleted(prometheus.Labels{"l1": "v1", "l2": "v2"}, false)
			vec.With(prometheus.Labels{"l1": "v1", "l2": "v2"}).Add(42)
			deleted(prometheus.Labels{"l1": "v1", "l2": "v2"}, true)
			deleted(prometheus.Labels{"l1": "v1", "l2": "v2"}, false)
			vec.With(prometheus.Labels{"l1": "v1", "l2": "v2"}).Add(42)
			deleted(prometheus.Labels{"l2": "v2", "l1": "v1"}, true)
			deleted(prometheus.Labels{"l2": "v2", "l1": "v1"}, false)
			vec.With(prometheus.Labels{"l1": "v1", "l2": "v2"}).Add(42)
			deleted(prometheus.Labels{"l2": "v1", "l1": "v2"}, false)
			deleted(prometheus.Labels{"l1": "v1"}, false)
		})
	}
}

func TestDeleteLabelValues(t *testing.T) {
	for name, vec := range testVecs([]string{"l1", "l2"}, "l2", xPrefix) {
		t.Run(name, func(t *testing.T) {
			deleted := func(want bool, lvs ...string) {
				t.Helper()
				if got := vec.DeleteLabelValues(lvs...); got != want {
					t.Errorf("DeleteLabelValues(%q) = %v, want %v", lvs, got, want)
				}
			}
			deleted(false, "v1", "v2")
			vec.With(prometheus.Labels{"l1": "v1", "l2": "v2"}).Add(42)
			vec.With(prometheus.Labels{"l1": "v1", "l2": "v3"}).Add(42) // a neighbour
			deleted(true, "v1", "v2")
			deleted(false, "v1", "v2")
			deleted(true, "v1", "v3")
			vec.With(prometheus.Labels{"l1": "v1", "l2": "v2"}).Add(42)
			deleted(false, "v2", "v1") // out of order
			deleted(false, "v1")
		})
	}
}

func TestDeletePartialMatch(t *testing.T) {
	for name, base := range testVecs([]string{"l1", "l2", "l3"}, "l2", xPrefix) {
		t.Run(name, func(t *testing.T) {
			deleted := func(vec *CounterVec, labels prometheus.Labels, want int) {
				t.Helper()
				if got := vec.DeletePartialMatch(labels); got != want {
					t.Errorf("DeletePartialMatch(%v) = %d, want %d", labels, got, want)
				}
			}
			deleted(base, prometheus.Labels{"l1": "v1", "l2": "v2"}, 0) // nothing yet

			base.With(prometheus.Labels{"l1": "baseValue1", "l2": "baseValue2", "l3": "baseValue3"}).Inc()
			base.With(prometheus.Labels{"l1": "multiDeleteV1", "l2": "diff1BaseValue2", "l3": "v3"}).Add(42)
			base.With(prometheus.Labels{"l1": "multiDeleteV1", "l2": "diff2BaseValue2", "l3": "v3"}).Add(84)
			base.With(prometheus.Labels{"l1": "multiDeleteV1", "l2": "diff3BaseValue2", "l3": "v3"}).Add(168)

			curried := base.MustCurryWith(prometheus.Labels{"l2": "curriedValue2"})
			curried.WithLabelValues("curriedValue1", "curriedValue3").Inc()
			curried.WithLabelValues("curriedValue1", "differentCurriedValue3").Inc()
			curried.WithLabelValues("differentCurriedValue1", "differentCurriedValue3").Inc()

			deleted(curried, prometheus.Labels{"lx": "curriedValue1"}, 0) // unknown label
			deleted(curried, prometheus.Labels{"l1": "badValue1"}, 0)     // unknown value
			deleted(curried, prometheus.Labels{"l2": "curriedValue2"}, 0) // a curried label
			deleted(curried, prometheus.Labels{"l2": "baseValue2"}, 0)    // the same, a value the base has
			deleted(curried, prometheus.Labels{"l1": "curriedValue1"}, 2)

			deleted(base, prometheus.Labels{"lx": "curriedValue1"}, 0)
			deleted(base, prometheus.Labels{"l1": "baseValue1", "l2": "badValue2"}, 0)
			deleted(base, prometheus.Labels{"l2": "curriedValue2"}, 1) // constrained like the stored value
			deleted(base, prometheus.Labels{"l1": "multiDeleteV1"}, 3)
			deleted(base, prometheus.Labels{"l3": "baseValue3"}, 1)
			if n := len(collected(t, base)); n != 0 {
				t.Errorf("%d metrics left, want none", n)
			}
		})
	}
}

// TestMetricVec increments 1000 label pairs (20 distinct) and checks each
// metric's value against its labels, then Reset.
func TestMetricVec(t *testing.T) {
	for name, vec := range testVecs([]string{"l1", "l2"}, "l2", xPrefix) {
		t.Run(name, func(t *testing.T) {
			constrain := func(s string) string { return s }
			if name == "constrained" {
				constrain = xPrefix
			}
			vec.Reset()
			want := map[[2]string]int{}
			for i := range 1000 {
				l1, l2 := strconv.Itoa(i%4), strconv.Itoa(i%5)
				want[[2]string{l1, constrain(l2)}]++
				vec.WithLabelValues(l1, l2).Inc()
				want[[2]string{"v1", constrain("v2")}]++
				vec.WithLabelValues("v1", "v2").Inc()
			}
			got := collected(t, vec)
			for _, m := range got {
				pair := [2]string{m.Label[0].GetValue(), m.Label[1].GetValue()}
				if v := m.Counter.GetValue(); v != float64(want[pair]) {
					t.Fatalf("%v: got %v, want %d", pair, v, want[pair])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("got %d metrics, want %d", len(got), len(want))
			}
			vec.Reset()
			if n := len(collected(t, vec)); n != 0 {
				t.Fatalf("Reset left %d metrics", n)
			}
		})
	}
}

// TestCounterVecEndToEndWithCollision: two label values whose hashes
// collide in client_golang's MetricVec stay two counters.
func TestCounterVecEndToEndWithCollision(t *testing.T) {
	vec := NewCounterVec(prometheus.CounterOpts{Name: "test", Help: "helpless"}, []string{"labelname"})
	vec.WithLabelValues("77kepQFQ8Kl").Inc()
	vec.WithLabelValues("!0IC=VloaY").Add(2)
	for lv, want := range map[string]float64{"77kepQFQ8Kl": 1, "!0IC=VloaY": 2} {
		m := write(t, vec.WithLabelValues(lv))
		if got := m.GetLabel()[0].GetValue(); got != lv {
			t.Errorf("label value: got %q, want %q", got, lv)
		}
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("%q: got %v, want %v", lv, got, want)
		}
	}
}

// TestCurryVec curries each subset of the labels two ways, increments
// through both curried vectors, and deletes with wrong and right labels.
func TestCurryVec(t *testing.T) {
	type curry struct {
		name           string
		c1, c2         prometheus.Labels // curried
		lvs1           []string          // c1.WithLabelValues
		with2          prometheus.Labels // c2.With
		wrongDelete1   prometheus.Labels // c1.Delete that must fail
		wrongDelete2   []string          // c2.DeleteLabelValues that must fail
		delete1        prometheus.Labels
		delete2        []string
		staticDeletion bool // the curried label is constrained to one value, so the "wrong" deletes succeed
	}
	cases := []curry{
		{"zero labels", nil, nil, []string{"1", "2", "3"}, prometheus.Labels{"one": "11", "two": "22", "three": "33"},
			nil, nil, prometheus.Labels{"one": "1", "two": "2", "three": "3"}, []string{"11", "22", "33"}, false},
		{"first label", prometheus.Labels{"one": "1"}, prometheus.Labels{"one": "11"}, []string{"2", "3"}, prometheus.Labels{"two": "22", "three": "33"},
			prometheus.Labels{"two": "22", "three": "33"}, []string{"2", "3"}, prometheus.Labels{"two": "2", "three": "3"}, []string{"22", "33"}, false},
		{"middle label", prometheus.Labels{"two": "2"}, prometheus.Labels{"two": "22"}, []string{"1", "3"}, prometheus.Labels{"one": "11", "three": "33"},
			prometheus.Labels{"one": "11", "three": "33"}, []string{"1", "3"}, prometheus.Labels{"one": "1", "three": "3"}, []string{"11", "33"}, false},
		{"last label", prometheus.Labels{"three": "3"}, prometheus.Labels{"three": "33"}, []string{"1", "2"}, prometheus.Labels{"one": "11", "two": "22"},
			prometheus.Labels{"two": "22", "one": "11"}, []string{"1", "2"}, prometheus.Labels{"two": "2", "one": "1"}, []string{"11", "22"}, true},
		{"two labels", prometheus.Labels{"three": "3", "one": "1"}, prometheus.Labels{"three": "33", "one": "11"}, []string{"2"}, prometheus.Labels{"two": "22"},
			prometheus.Labels{"two": "22"}, []string{"2"}, prometheus.Labels{"two": "2"}, []string{"22"}, false},
		{"all labels", prometheus.Labels{"three": "3", "two": "2", "one": "1"}, prometheus.Labels{"three": "33", "one": "11", "two": "22"}, nil, nil,
			nil, nil, prometheus.Labels{}, nil, false},
	}
	for _, variant := range []struct {
		name      string
		constrain func(string) string // on "three"
	}{
		{"unconstrained", nil},
		{"constrained overlap", xPrefix},
		{"constrained to one value", func(string) string { return "x" }},
	} {
		opts := prometheus.CounterOpts{Name: "test", Help: "helpless"}
		vec := NewCounterVec(opts, []string{"one", "two", "three"})
		if variant.constrain != nil {
			vec = V2.NewCounterVec(prometheus.CounterVecOpts{CounterOpts: opts, VariableLabels: prometheus.ConstrainedLabels{
				{Name: "one"}, {Name: "two"}, {Name: "three", Constraint: variant.constrain},
			}})
		}
		three := func(v string) string {
			if variant.constrain != nil {
				return variant.constrain(v)
			}
			return v
		}
		oneValue := variant.name == "constrained to one value"
		checkTwo := func(t *testing.T) {
			t.Helper()
			if n := len(collected(t, vec)); n != 2 {
				t.Errorf("got %d metrics, want 2", n)
			}
			for _, lvs := range [][3]string{{"1", "2", "3"}, {"11", "22", "33"}} {
				c, err := vec.GetMetricWithLabelValues(lvs[:]...)
				if err != nil {
					t.Fatal(err)
				}
				m := write(t, c)
				if got := m.GetCounter().GetValue(); got != 1 {
					t.Errorf("%q: got %v, want 1", lvs, got)
				}
				labels := map[string]string{}
				for _, l := range m.Label {
					labels[l.GetName()] = l.GetValue()
				}
				if want := map[string]string{"one": lvs[0], "two": lvs[1], "three": three(lvs[2])}; !reflect.DeepEqual(labels, want) {
					t.Errorf("labels: got %v, want %v", labels, want)
				}
			}
		}
		checkNone := func(t *testing.T) {
			t.Helper()
			if n := len(collected(t, vec)); n != 0 {
				t.Errorf("got %d metrics, want none", n)
			}
		}
		t.Run(variant.name, func(t *testing.T) {
			for _, tc := range cases {
				if oneValue && (tc.name == "zero labels" || tc.name == "first label" || tc.name == "middle label") {
					// The two metrics would be one ("three" has one value).
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					c1, c2 := vec.MustCurryWith(tc.c1), vec.MustCurryWith(tc.c2)
					c1.WithLabelValues(tc.lvs1...).Inc()
					c2.With(tc.with2).Inc()
					if !oneValue || tc.name != "last label" {
						checkTwo(t)
					}
					if tc.wrongDelete1 != nil {
						if got := c1.Delete(tc.wrongDelete1); got != (tc.staticDeletion && oneValue) {
							t.Errorf("c1.Delete(%v) = %v", tc.wrongDelete1, got)
						}
						if got := c2.DeleteLabelValues(tc.wrongDelete2...); got != (tc.staticDeletion && oneValue) {
							t.Errorf("c2.DeleteLabelValues(%q) = %v", tc.wrongDelete2, got)
						}
					}
					if !(tc.staticDeletion && oneValue) {
						if !c1.Delete(tc.delete1) {
							t.Errorf("c1.Delete(%v) failed", tc.delete1)
						}
						if !c2.DeleteLabelValues(tc.delete2...) {
							t.Errorf("c2.DeleteLabelValues(%q) failed", tc.delete2)
						}
					}
					checkNone(t)
				})
			}
			t.Run("double curry", func(t *testing.T) {
				c1 := vec.MustCurryWith(prometheus.Labels{"three": "3"}).MustCurryWith(prometheus.Labels{"one": "1"})
				c2 := vec.MustCurryWith(prometheus.Labels{"three": "33"}).MustCurryWith(prometheus.Labels{"one": "11"})
				c1.WithLabelValues("2").Inc()
				c2.With(prometheus.Labels{"two": "22"}).Inc()
				checkTwo(t)
				if c1.Delete(prometheus.Labels{"two": "22"}) || c2.DeleteLabelValues("2") {
					t.Error("a deletion with wrong labels succeeded")
				}
				if !c1.Delete(prometheus.Labels{"two": "2"}) || !c2.DeleteLabelValues("22") {
					t.Error("a deletion failed")
				}
				checkNone(t)
			})
			t.Run("use already curried label", func(t *testing.T) {
				c1 := vec.MustCurryWith(prometheus.Labels{"three": "3"})
				if _, err := c1.GetMetricWithLabelValues("1", "2", "3"); err == nil {
					t.Error("no error for a curried label's value")
				}
				if _, err := c1.GetMetricWith(prometheus.Labels{"one": "1", "two": "2", "three": "3"}); err == nil {
					t.Error("no error for a curried label")
				}
				checkNone(t)
				c1.WithLabelValues("1", "2").Inc()
				if c1.Delete(prometheus.Labels{"one": "1", "two": "2", "three": "3"}) {
					t.Error("a deletion naming a curried label succeeded")
				}
				if !c1.Delete(prometheus.Labels{"one": "1", "two": "2"}) {
					t.Error("deletion failed")
				}
				checkNone(t)
			})
			t.Run("curry already curried label", func(t *testing.T) {
				_, err := vec.MustCurryWith(prometheus.Labels{"three": "3"}).CurryWith(prometheus.Labels{"three": "33"})
				if err == nil || err.Error() != `label name "three" is already curried` {
					t.Errorf("got %v", err)
				}
			})
			t.Run("unknown label", func(t *testing.T) {
				_, err := vec.CurryWith(prometheus.Labels{"foo": "bar"})
				if err == nil || err.Error() != "1 unknown label(s) found during currying" {
					t.Errorf("got %v", err)
				}
			})
		})
	}
}

// TestHistogramVecCurryAndDelete runs the vector operations on a
// HistogramVec: its CurryWith returns a prometheus.ObserverVec of this
// package's histograms.
func TestHistogramVecCurryAndDelete(t *testing.T) {
	vec := NewHistogramVec(prometheus.HistogramOpts{Name: "test", Help: "helpless", Buckets: []float64{1, 10}}, []string{"code", "method"})
	get := vec.MustCurryWith(prometheus.Labels{"method": "GET"})
	get.WithLabelValues("200").Observe(0.5)
	get.With(prometheus.Labels{"code": "500"}).Observe(5)
	vec.WithLabelValues("200", "POST").Observe(50)
	got := map[string]*dto.Histogram{}
	for _, m := range collected(t, vec) {
		got[m.Label[0].GetValue()+" "+m.Label[1].GetValue()] = m.Histogram
	}
	for key, wantCounts := range map[string][2]uint64{"200 GET": {1, 1}, "500 GET": {0, 1}, "200 POST": {0, 0}} {
		h := got[key]
		if h == nil || h.GetSampleCount() != 1 || h.Bucket[0].GetCumulativeCount() != wantCounts[0] || h.Bucket[1].GetCumulativeCount() != wantCounts[1] {
			t.Errorf("%s: got %v, want cumulative %v of 1", key, h, wantCounts)
		}
	}
	if _, ok := get.(*HistogramVec); !ok {
		t.Errorf("CurryWith returned %T", get)
	}
	if n := vec.DeletePartialMatch(prometheus.Labels{"method": "GET"}); n != 2 {
		t.Errorf("DeletePartialMatch deleted %d, want 2", n)
	}
	if !vec.DeleteLabelValues("200", "POST") {
		t.Error("DeleteLabelValues failed")
	}
	if n := len(collected(t, vec)); n != 0 {
		t.Errorf("%d left", n)
	}
}
