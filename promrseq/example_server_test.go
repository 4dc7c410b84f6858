package promrseq_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/gorseq/rseq/promrseq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// instrument counts requests by status code and observes their latency.
func instrument(requests *promrseq.CounterVec, latency prometheus.Histogram, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		requests.WithLabelValues(strconv.Itoa(rec.code)).Inc()
		latency.Observe(time.Since(start).Seconds())
	})
}

// An HTTP server instrumented with promrseq's metrics and served by promhttp
// unchanged: a request counter by status code and a latency histogram,
// registered with a registry of their own and scraped at /metrics.
func Example_server() {
	requests := promrseq.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "Requests served, by status code.",
	}, []string{"code"})
	latency := promrseq.NewHistogram(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Time to serve a request.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 10, 5),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(requests, latency)

	app := http.NewServeMux()
	app.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", instrument(requests, latency, app))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, path := range []string{"/hello", "/hello", "/hello", "/missing"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "http_requests_total") || strings.HasPrefix(line, "http_request_duration_seconds_count") ||
			strings.HasPrefix(line, `http_request_duration_seconds_bucket{le="+Inf"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// http_request_duration_seconds_bucket{le="+Inf"} 4
	// http_request_duration_seconds_count 4
	// http_requests_total{code="200"} 3
	// http_requests_total{code="404"} 1
}
