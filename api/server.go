// Package api is the HTTP side of `serve`: the JSON API over one or more
// views (routes, bearer-token auth, its OpenAPI document), the learning
// curves built from the snapshots, the HTML dashboard and sensor pages,
// goka's own web UI and the Prometheus metrics of serving. The JSON bodies
// are package schema's.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/view"
)

// Server is the HTTP API over one or more views; the first is the default
// group of the /v1/sensors routes.
type Server struct {
	Views    []*view.View
	Registry *prometheus.Registry // nil: /metrics serves an empty registry
	Metrics  *Metrics             // nil: requests and lookups are not counted
	Log      *slog.Logger

	// Histories follow each group's snapshots (history, plot.svg and the
	// dashboard's curves); a group without one has no curves.
	Histories []*history.Follower
	// Truth gives θ*, when known: plots, history and the dashboard's ‖θ−θ*‖.
	Truth Truth
	// IntervalLevel is the coverage of predict's [lo, hi] (0:
	// rls.DefaultIntervalLevel).
	IntervalLevel float64
	// Events follow each group's events (GET …/events and the dashboard's
	// badges); a group without one has none.
	Events []*history.EventFollower
	// Goka is goka's monitor and query UI under /goka/ (nil: one is made
	// showing Views).
	Goka *GokaUI
	// Health, when set, makes /healthz answer 503 while it returns an
	// error (run's processor, see Healthz).
	Health func() error
}

// route is one pattern of the API's ServeMux; the pattern is also the
// route label of the request metrics.
type route struct {
	pattern string
	handler http.Handler
}

// routes is every route the server answers; openapi.json documents each.
func (s *Server) routes() []route {
	reg := s.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	ui := s.Goka
	if ui == nil {
		ui = NewGokaUI(s.Log)
	}
	for _, v := range s.Views {
		ui.AttachView(v)
	}
	fn := func(pattern string, h http.HandlerFunc) route { return route{pattern, h} }
	return []route{
		fn("GET /healthz", Healthz(s.Health)),
		fn("GET /readyz", s.readyz),
		{"GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})},
		fn("GET /openapi.json", serveOpenAPI),
		fn("GET /v1/sensors", s.withGroup(s.list)),
		fn("GET /v1/sensors/{id}", s.withGroup(s.get)),
		fn("POST /v1/sensors/{id}/predict", s.withGroup(s.predict)),
		fn("GET /v1/sensors/{id}/history", s.withGroup(s.history)),
		fn("GET /v1/sensors/{id}/plot.svg", s.withGroup(s.plotSVG)),
		fn("GET /v1/sensors/{id}/events", s.withGroup(s.events)),
		fn("GET /v1/groups", s.groups),
		fn("GET /v1/groups/{group}/sensors", s.withGroup(s.list)),
		fn("GET /v1/groups/{group}/sensors/{id}", s.withGroup(s.get)),
		fn("POST /v1/groups/{group}/sensors/{id}/predict", s.withGroup(s.predict)),
		fn("GET /v1/groups/{group}/sensors/{id}/history", s.withGroup(s.history)),
		fn("GET /v1/groups/{group}/sensors/{id}/plot.svg", s.withGroup(s.plotSVG)),
		fn("GET /v1/groups/{group}/sensors/{id}/events", s.withGroup(s.events)),
		fn("GET /{$}", s.dashboard),
		fn("GET /sensors/{id}", s.sensorPage),
		{GokaBase + "/", ui},
		{GokaBase, ui},
	}
}

// Handler returns the API's routes, counted and timed by Metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.Handle(r.pattern, r.handler)
	}
	return s.Metrics.Instrument(jsonMisses(mux))
}

// jsonMisses answers a request of the JSON routes that matches none of mux's
// patterns (an unknown path, a wrong method) with a JSON error, as every
// other answer of those routes; the pages keep ServeMux's plain text.
func jsonMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" || !isJSONRoute(r.URL.Path) {
			mux.ServeHTTP(w, r)
			return
		}
		// ServeMux's own answer says which: 404, or 405 with Allow.
		miss := &missWriter{header: http.Header{}}
		h.ServeHTTP(miss, r)
		switch miss.status {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", miss.header.Get("Allow"))
			writeError(w, miss.status, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", short(r.Method), short(r.URL.Path), miss.header.Get("Allow")))
		case http.StatusNotFound:
			writeError(w, miss.status, fmt.Sprintf("no route %s %s (the routes are in /openapi.json)", short(r.Method), short(r.URL.Path)))
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// isJSONRoute says whether path belongs to the routes that answer JSON.
func isJSONRoute(path string) bool {
	return path == "/v1" || strings.HasPrefix(path, "/v1/") || path == "/healthz" || path == "/readyz" || path == "/openapi.json"
}

// missWriter keeps the status and header ServeMux answers a miss with.
type missWriter struct {
	header http.Header
	status int
}

func (m *missWriter) Header() http.Header { return m.header }
func (m *missWriter) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return len(b), nil
}
func (m *missWriter) WriteHeader(status int) { m.status = status }

//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	status := http.StatusOK
	groups := map[string]string{}
	for _, v := range s.Views {
		st := "ready"
		if !v.Recovered() {
			st, status = v.State(), http.StatusServiceUnavailable
		}
		groups[v.Group()] = st
	}
	hist := map[string]string{}
	for _, h := range s.Histories {
		st := h.State()
		if st != "ready" {
			status = http.StatusServiceUnavailable
		}
		hist[h.Group()] = st
	}
	events := map[string]string{}
	for _, e := range s.Events {
		st := e.State()
		if st != "ready" {
			status = http.StatusServiceUnavailable
		}
		events[e.Group()] = st
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "groups": groups, "history": hist, "events": events})
}

func (s *Server) groups(w http.ResponseWriter, _ *http.Request) {
	var gs []string
	for _, v := range s.Views {
		gs = append(gs, v.Group())
	}
	writeJSON(w, http.StatusOK, map[string][]string{"groups": gs})
}

func (s *Server) withGroup(fn func(http.ResponseWriter, *http.Request, *view.View)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.Views) == 0 {
			writeError(w, http.StatusServiceUnavailable, "no group is served")
			return
		}
		v := s.Views[0]
		if g := r.PathValue("group"); g != "" {
			v = nil
			for _, c := range s.Views {
				if c.Group() == g {
					v = c
				}
			}
			if v == nil {
				writeError(w, http.StatusNotFound, fmt.Sprintf("group %q is not served here", short(g)))
				return
			}
		}
		fn(w, r, v)
	}
}

// ready answers 503 with what v waits for while it has not caught up with
// its table: until then its local copy may be behind the table, or one
// being rebuilt, and its sensors are not served as if they were current.
func ready(w http.ResponseWriter, v *view.View) bool {
	msg := v.Waiting()
	if msg == "" {
		return true
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, msg)
	return false
}

// MaxPage bounds ?limit= of the sensor list.
const MaxPage = 10000

func (s *Server) list(w http.ResponseWriter, r *http.Request, v *view.View) {
	limit := 1000
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > MaxPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a whole number in 1..%d", short(l), MaxPage))
			return
		}
		limit = n
	}
	if !ready(w, v) {
		return
	}
	ids, more, err := v.Sensors(r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := schema.Sensors{Sensors: ids}
	if out.Sensors == nil {
		out.Sensors = []string{}
	}
	if more {
		out.Next = ids[len(ids)-1]
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, v *view.View) {
	if !ready(w, v) {
		return
	}
	id := r.PathValue("id")
	sensor, ok, err := v.Get(id)
	if err != nil {
		s.Metrics.lookup(v.Group(), LookupError)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !ok {
		s.Metrics.lookup(v.Group(), LookupNotFound)
		writeError(w, http.StatusNotFound, fmt.Sprintf("sensor %q not found in group %q", short(id), v.Group()))
		return
	}
	s.Metrics.lookup(v.Group(), LookupFound)
	writeJSON(w, http.StatusOK, sensorJSON(sensor, v.Group()))
}

// sensorJSON is a view's sensor as GET /v1/sensors/{id} answers it.
func sensorJSON(s *view.Sensor, group string) schema.Sensor {
	return codec.DescribeSensorLags(s.ID, group, s.Meta, s.Lags, s.Bank)
}

// MaxPredictBody bounds the body of a predict request.
const MaxPredictBody = 1 << 20

func (s *Server) predict(w http.ResponseWriter, r *http.Request, v *view.View) {
	id := r.PathValue("id")
	req, status, err := decodePredict(w, r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	if !ready(w, v) {
		return
	}
	sensor, ok, err := v.Get(id)
	if err != nil {
		s.Metrics.lookup(v.Group(), LookupError)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !ok || sensor.Bank == nil {
		s.Metrics.lookup(v.Group(), LookupNotFound)
		writeError(w, http.StatusNotFound, fmt.Sprintf("sensor %q not found in group %q", short(id), v.Group()))
		return
	}
	if len(req.X) != sensor.Bank.Dim {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("x has %d values, sensor %q has dimension %d", len(req.X), short(id), sensor.Bank.Dim))
		return
	}
	for i, x := range req.X {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("x[%d] is not finite", i))
			return
		}
	}
	s.Metrics.lookup(v.Group(), LookupFound)
	out := schema.Predictions{Sensor: id, Level: s.level()}
	for _, m := range sensor.Bank.Models {
		p, err := m.PredictInterval(req.X, out.Level)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
			// Finite x can still overflow xᵀθ; JSON has no number for it.
			writeError(w, http.StatusBadRequest, fmt.Sprintf("model %q of sensor %q: xᵀθ is %v (it overflows float64 for this x): no prediction", m.Name, short(id), p.Y))
			return
		}
		pj := schema.Prediction{Model: m.Name, Y: p.Y}
		// σ̂² unknown, or xᵀPx overflowing for a huge x: no interval.
		if isFinite(p.SD) && isFinite(p.Lo) && isFinite(p.Hi) {
			pj.SD, pj.Lo, pj.Hi = &p.SD, &p.Lo, &p.Hi
		}
		out.Predictions = append(out.Predictions, pj)
	}
	writeJSON(w, http.StatusOK, out)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// level is the coverage of predict's intervals.
func (s *Server) level() float64 {
	if s.IntervalLevel == 0 {
		return rls.DefaultIntervalLevel
	}
	return s.IntervalLevel
}

// decodePredict reads a predict body strictly: Content-Type
// application/json (charset, if given, utf-8), one JSON object whose only
// key is "x" (spelled exactly so: encoding/json would match "X" too), and
// nothing after it. It returns the status to answer with when the body is
// refused: 415 for the content type, 408 for a body not read within
// ReadTimeout, else 400.
func decodePredict(w http.ResponseWriter, r *http.Request) (schema.PredictRequest, int, error) {
	var req schema.PredictRequest
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	charset, hasCharset := params["charset"]
	if err != nil || mt != "application/json" || len(params) > 1 || (len(params) == 1 && !hasCharset) ||
		(hasCharset && !strings.EqualFold(charset, "utf-8")) {
		return req, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: want application/json", short(ct))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxPredictBody))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return req, http.StatusRequestTimeout, fmt.Errorf("body not read within %v", ReadTimeout)
		}
		return req, http.StatusBadRequest, fmt.Errorf("body: want {\"x\": [numbers]}: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, http.StatusBadRequest, errors.New(`body: want {"x": [numbers]} and nothing after it`)
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if k != "x" {
			return req, http.StatusBadRequest, fmt.Errorf(`body: unknown field %q: want {"x": [numbers]}`, short(k))
		}
	}
	raw, ok := fields["x"]
	if !ok {
		return req, http.StatusBadRequest, errors.New(`body: no field "x": want {"x": [numbers]}`)
	}
	if err := json.Unmarshal(raw, &req.X); err != nil {
		return req, http.StatusBadRequest, fmt.Errorf(`body: want {"x": [numbers]}: x: %v`, err)
	}
	return req, 0, nil
}

// writeJSON encodes v, then sends status and the body: a value that cannot
// be encoded (a NaN or ±Inf in it) is a 500 with a JSON error, never a
// status with an empty or cut body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(schema.Error{Error: fmt.Sprintf("encoding the response: %v", err)})
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // the status is sent: a failed write has no one to tell
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, schema.Error{Error: msg})
}

// historyOf finds the snapshots follower of v's group.
func (s *Server) historyOf(v *view.View) *history.Follower {
	for _, h := range s.Histories {
		if h.Group() == v.Group() {
			return h
		}
	}
	return nil
}

func (s *Server) sensorHistory(w http.ResponseWriter, r *http.Request, v *view.View) (schema.History, bool) {
	id := r.PathValue("id")
	h := s.historyOf(v)
	if h == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no history is kept for group %q (serve follows GROUP-snapshots)", v.Group()))
		return schema.History{}, false
	}
	out, ok := HistoryOf(v.Group(), id, h.Store().Points(id), s.Truth)
	if sv, found, err := v.Get(id); ok && found && err == nil {
		withFeatures(&out, codec.FeatureNames(int(sv.Meta.Dim), sv.Lags))
	}
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no snapshots of sensor %q in group %q yet (processors publish them when their snapshot-every or snapshot-interval is set)", short(id), v.Group()))
		return out, false
	}
	return out, true
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, v *view.View) {
	if out, ok := s.sensorHistory(w, r, v); ok {
		writeJSON(w, http.StatusOK, out)
	}
}

// eventsOf finds the events follower of v's group.
func (s *Server) eventsOf(v *view.View) *history.EventFollower {
	for _, e := range s.Events {
		if e.Group() == v.Group() {
			return e
		}
	}
	return nil
}

// DefaultEventsLimit is ?limit= of the events when not given.
const DefaultEventsLimit = 20

func (s *Server) events(w http.ResponseWriter, r *http.Request, v *view.View) {
	id := r.PathValue("id")
	f := s.eventsOf(v)
	if f == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no events are kept for group %q (serve follows GROUP-events)", v.Group()))
		return
	}
	limit, most := DefaultEventsLimit, f.Store().PerSensor()
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > most {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a whole number in 1..%d", short(l), most))
			return
		}
		limit = n
	}
	evs := f.Store().Events(id, limit)
	if len(evs) == 0 {
		// No events: a sensor of the view has had none yet.
		if _, ok, err := v.Get(id); err != nil || !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("sensor %q not found in group %q", short(id), v.Group()))
			return
		}
	}
	writeJSON(w, http.StatusOK, schema.Events{Sensor: id, Group: v.Group(), Events: evs})
}

// MaxEchoed bounds, in runes, what an error message repeats of a request
// (a sensor ID, a group, a parameter): an answer stays small whatever was
// asked.
const MaxEchoed = 64

// short is s cut to MaxEchoed runes, "…" marking the cut.
func short(s string) string {
	n := 0
	for i := range s {
		if n == MaxEchoed {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
