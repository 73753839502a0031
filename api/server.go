package view

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamrls/streamrls/history"
)

// SensorJSON is the API's rendering of a sensor.
type SensorJSON struct {
	Sensor    string      `json:"sensor"`
	Group     string      `json:"group"`
	Dim       int         `json:"dim"`
	Samples   uint64      `json:"samples"`
	Rejected  uint64      `json:"rejected"`
	Updated   string      `json:"updated"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Models    []ModelJSON `json:"models"`
}

// ModelJSON is one model of a sensor: the same fields as a snapshot's.
type ModelJSON = history.Model

// SensorsJSON is a page of sensor IDs.
type SensorsJSON struct {
	Sensors []string `json:"sensors"`
	Next    string   `json:"next,omitempty"`
}

// PredictRequest is the body of POST /v1/sensors/{id}/predict.
type PredictRequest struct {
	X []float64 `json:"x"`
}

// PredictJSON is each model's prediction xᵀθ.
type PredictJSON struct {
	Sensor      string           `json:"sensor"`
	Predictions []PredictionJSON `json:"predictions"`
}

// PredictionJSON is one model's prediction.
type PredictionJSON struct {
	Model string  `json:"model"`
	Y     float64 `json:"y"`
}

// ErrorJSON is every error response.
type ErrorJSON struct {
	Error string `json:"error"`
}

// JSON renders a sensor for the API.
func (s *Sensor) JSON(group string) SensorJSON {
	out := SensorJSON{
		Sensor: s.ID, Group: group, Dim: int(s.Meta.Dim), Samples: s.Meta.Samples, Rejected: s.Meta.Rejected,
		Updated:   time.UnixMilli(s.Meta.Updated).UTC().Format(time.RFC3339Nano),
		Partition: s.Meta.Partition, Offset: s.Meta.Offset, Models: []ModelJSON{},
	}
	if s.Bank != nil {
		out.Models = history.Models(s.Bank)
	}
	return out
}

// Server is the HTTP API over one or more views; the first is the default
// group of the /v1/sensors routes.
type Server struct {
	Views    []*View
	Registry *prometheus.Registry // nil: /metrics serves an empty registry
	Metrics  *Metrics             // nil: requests and lookups are not counted
	Log      *slog.Logger

	// Histories follow each group's snapshots (history, plot.svg and the
	// dashboard's curves); a group without one has no curves.
	Histories []*History
	// Truth gives θ*, when known: plots, history and the dashboard's ‖θ−θ*‖.
	Truth Truth
	// Goka is goka's monitor and query UI under /goka/ (nil: one is made
	// showing Views).
	Goka *GokaUI
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	reg := s.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /v1/sensors", s.withGroup(s.list))
	mux.HandleFunc("GET /v1/sensors/{id}", s.withGroup(s.get))
	mux.HandleFunc("POST /v1/sensors/{id}/predict", s.withGroup(s.predict))
	mux.HandleFunc("GET /v1/groups", s.groups)
	mux.HandleFunc("GET /v1/groups/{group}/sensors", s.withGroup(s.list))
	mux.HandleFunc("GET /v1/groups/{group}/sensors/{id}", s.withGroup(s.get))
	mux.HandleFunc("POST /v1/groups/{group}/sensors/{id}/predict", s.withGroup(s.predict))
	s.uiRoutes(mux) // dashboard.go: history, plots, dashboard, /goka/
	return s.Metrics.Instrument(mux)
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
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "groups": groups})
}

func (s *Server) groups(w http.ResponseWriter, _ *http.Request) {
	var gs []string
	for _, v := range s.Views {
		gs = append(gs, v.Group())
	}
	writeJSON(w, http.StatusOK, map[string][]string{"groups": gs})
}

func (s *Server) withGroup(fn func(http.ResponseWriter, *http.Request, *View)) http.HandlerFunc {
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
				writeError(w, http.StatusNotFound, fmt.Sprintf("group %q is not served here", g))
				return
			}
		}
		fn(w, r, v)
	}
}

// MaxPage bounds ?limit= of the sensor list.
const MaxPage = 10000

func (s *Server) list(w http.ResponseWriter, r *http.Request, v *View) {
	limit := 1000
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > MaxPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a whole number in 1..%d", l, MaxPage))
			return
		}
		limit = n
	}
	ids, more, err := v.Sensors(r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := SensorsJSON{Sensors: ids}
	if out.Sensors == nil {
		out.Sensors = []string{}
	}
	if more {
		out.Next = ids[len(ids)-1]
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, v *View) {
	id := r.PathValue("id")
	sensor, ok, err := v.Get(id)
	if err != nil {
		s.Metrics.lookup(v.Group(), LookupError)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !ok {
		s.Metrics.lookup(v.Group(), LookupNotFound)
		writeError(w, http.StatusNotFound, fmt.Sprintf("sensor %q not found in group %q", id, v.Group()))
		return
	}
	s.Metrics.lookup(v.Group(), LookupFound)
	writeJSON(w, http.StatusOK, sensor.JSON(v.Group()))
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request, v *View) {
	id := r.PathValue("id")
	var req PredictRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body: want {\"x\": [numbers]}: %v", err))
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
		writeError(w, http.StatusNotFound, fmt.Sprintf("sensor %q not found in group %q", id, v.Group()))
		return
	}
	if len(req.X) != sensor.Bank.Dim {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("x has %d values, sensor %q has dimension %d", len(req.X), id, sensor.Bank.Dim))
		return
	}
	for i, x := range req.X {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("x[%d] is not finite", i))
			return
		}
	}
	s.Metrics.lookup(v.Group(), LookupFound)
	out := PredictJSON{Sensor: id}
	for _, m := range sensor.Bank.Models {
		out.Predictions = append(out.Predictions, PredictionJSON{Model: m.Name, Y: m.Predict(req.X)})
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		return
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorJSON{Error: msg})
}
