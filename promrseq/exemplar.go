package promrseq

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// newExemplar builds an exemplar with client_golang's rules: valid label
// names not starting with "__", valid UTF-8 values, at most
// prometheus.ExemplarMaxRunes runes in names and values together.
func newExemplar(value float64, ts time.Time, labels prometheus.Labels) (*dto.Exemplar, error) {
	stamp := timestamppb.New(ts)
	if err := stamp.CheckValid(); err != nil {
		return nil, err
	}
	pairs := make([]*dto.LabelPair, 0, len(labels))
	runes := 0
	for name, v := range labels {
		if !model.UTF8Validation.IsValidLabelName(name) || strings.HasPrefix(name, model.ReservedLabelPrefix) {
			return nil, fmt.Errorf("exemplar label name %q is invalid", name)
		}
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("exemplar label value %q is not valid UTF-8", v)
		}
		runes += utf8.RuneCountInString(name) + utf8.RuneCountInString(v)
		pairs = append(pairs, &dto.LabelPair{Name: new(name), Value: new(v)})
	}
	if runes > prometheus.ExemplarMaxRunes {
		return nil, fmt.Errorf("exemplar labels have %d runes, exceeding the limit of %d", runes, prometheus.ExemplarMaxRunes)
	}
	return &dto.Exemplar{Label: pairs, Value: new(value), Timestamp: stamp}, nil
}

// mustExemplar is newExemplar for AddWithExemplar and ObserveWithExemplar,
// which panic on invalid labels as client_golang's do.
func mustExemplar(value float64, labels prometheus.Labels) *dto.Exemplar {
	e, err := newExemplar(value, now(), labels)
	if err != nil {
		panic(err)
	}
	return e
}
