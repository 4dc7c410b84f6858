package promrseq

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// now is the clock behind created timestamps and exemplar timestamps (a
// variable so that the tests can stop it).
var now = time.Now

// newDesc builds a metric's Desc as client_golang's constructors do.
func newDesc(namespace, subsystem, name, help, unit string, variable prometheus.ConstrainableLabels, constLabels prometheus.Labels) *prometheus.Desc {
	return prometheus.V2.NewDesc(
		prometheus.BuildFQName(namespace, subsystem, name),
		help,
		variable,
		constLabels,
		prometheus.WithUnit(unit),
	)
}

// labelNames returns the names of a vector's variable labels.
// ConstrainableLabels has unexported methods, so client_golang's two types
// are all there is.
func labelNames(labels prometheus.ConstrainableLabels) []string {
	switch l := labels.(type) {
	case nil:
		return nil
	case prometheus.UnconstrainedLabels:
		return l
	case prometheus.ConstrainedLabels:
		names := make([]string, len(l))
		for i, c := range l {
			names[i] = c.Name
		}
		return names
	default:
		panic(fmt.Sprintf("promrseq: unknown ConstrainableLabels type %T", labels))
	}
}

// checkCardinality panics, as client_golang does, when a vector asks for a
// metric with the wrong number of label values (MetricVec checks first, so
// this only guards the invariant).
func checkCardinality(desc *prometheus.Desc, names, values []string) {
	if len(names) != len(values) {
		panic(fmt.Errorf("promrseq: %s has %d variable labels named %q but %d values %q were provided",
			desc, len(names), names, len(values), values))
	}
}
