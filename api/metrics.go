package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamrls/streamrls/view"
)

// Metrics are the Prometheus metrics of `serve`: the HTTP API's requests
// and lookups, and, read at scrape time, each view's state and size.
type Metrics struct {
	// Requests counts responses by route (the ServeMux pattern that
	// matched, e.g. "GET /v1/sensors/{id}"; "unmatched" for none) and
	// status code.
	Requests *prometheus.CounterVec
	// Duration is the time to answer a request, by route.
	Duration *prometheus.HistogramVec
	// Lookups counts sensor lookups (GET a sensor, predict) by group and
	// result: found, not_found or error.
	Lookups *prometheus.CounterVec
}

// Lookup results of streamrls_lookups_total.
const (
	LookupFound    = "found"
	LookupNotFound = "not_found"
	LookupError    = "error"
)

var (
	descViewRecovered = prometheus.NewDesc("streamrls_view_recovered",
		"1 once the view has caught up with its group table (what /readyz reports), else 0.", []string{"group"}, nil)
	descViewState = prometheus.NewDesc("streamrls_view_state",
		"The view's goka state: 1 for the current one (idle, initializing, connecting, catching_up, running), 0 for the others.",
		[]string{"group", "state"}, nil)
	descViewSensors = prometheus.NewDesc("streamrls_view_sensors",
		"Sensors the view serves (keys in its local copy of the table, summed over partitions).", []string{"group"}, nil)
)

// viewStates names goka.ViewState values for streamrls_view_state.
var viewStates = []struct {
	state goka.ViewState
	name  string
}{
	{goka.ViewStateIdle, "idle"},
	{goka.ViewStateInitializing, "initializing"},
	{goka.ViewStateConnecting, "connecting"},
	{goka.ViewStateCatchUp, "catching_up"},
	{goka.ViewStateRunning, "running"},
}

// NewMetrics makes the serve metrics over views and registers them on reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer, views ...*view.View) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamrls_http_requests_total", Help: "HTTP responses by route (the matched pattern) and status code.",
		}, []string{"route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "streamrls_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10), // 50µs … 13s
		}, []string{"route"}),
		Lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamrls_lookups_total", Help: "Sensor lookups (GET a sensor, predict) by group and result (found, not_found, error).",
		}, []string{"group", "result"}),
	}
	for _, v := range views {
		for _, r := range []string{LookupFound, LookupNotFound, LookupError} {
			m.Lookups.WithLabelValues(v.Group(), r)
		}
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Duration, m.Lookups, viewCollector(views))
	}
	return m
}

// Instrument counts and times every request h answers. h should be a
// ServeMux: its matched pattern becomes the route label.
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		route := r.Pattern // set by ServeMux on this request
		if route == "" {
			route = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		m.Requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		m.Duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

func (m *Metrics) lookup(group, result string) {
	if m != nil {
		m.Lookups.WithLabelValues(group, result).Inc()
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type viewCollector []*view.View

func (c viewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descViewRecovered
	ch <- descViewState
	ch <- descViewSensors
}

func (c viewCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c {
		g := v.Group()
		rec := 0.0
		if v.Recovered() {
			rec = 1
		}
		ch <- prometheus.MustNewConstMetric(descViewRecovered, prometheus.GaugeValue, rec, g)
		cur := v.GokaState()
		for _, s := range viewStates {
			val := 0.0
			if s.state == cur {
				val = 1
			}
			ch <- prometheus.MustNewConstMetric(descViewState, prometheus.GaugeValue, val, g, s.name)
		}
		if n, err := v.Count(); err == nil { // a storage error leaves the series out of this scrape
			ch <- prometheus.MustNewConstMetric(descViewSensors, prometheus.GaugeValue, float64(n), g)
		}
	}
}
