package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/schema"
)

// TestExampleReport runs the example's report against a server that
// answers as serve does.
func TestExampleReport(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	answers := map[string]any{
		"GET /v1/sensors": schema.Sensors{Sensors: []string{"1", "2"}},
		"GET /v1/sensors/1": schema.Sensor{Sensor: "1", Dim: 2, Models: []schema.Model{
			{Name: "mod1", Samples: 10, MSE: 0.25, Theta: []float64{1, -0.5}}}},
		"GET /v1/sensors/2": schema.Sensor{Sensor: "2", Dim: 2, Models: []schema.Model{
			{Name: "mod1", Samples: 3, MSE: 1, Theta: []float64{0, 2}}}},
		"POST /v1/sensors/1/predict": schema.Predictions{Sensor: "1", Level: 0.95, Predictions: []schema.Prediction{
			{Model: "mod1", Y: 0.25, SD: f(0.5), Lo: f(-0.75), Hi: f(1.25)}}},
		"GET /v1/sensors/1/events": schema.Events{Sensor: "1", Events: []schema.Event{
			{Sensor: "1", Model: "mod1", Kind: schema.EventAnomaly, Samples: 9, Z: f(7), Time: "2026-12-06T12:00:00Z"}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"error": "token"}`, http.StatusUnauthorized)
			return
		}
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error": "not found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	}))
	defer srv.Close()
	var out strings.Builder
	if err := report(context.Background(), &client.Client{BaseURL: srv.URL, Token: "tok"}, &out); err != nil {
		t.Fatal(err)
	}
	want := `sensor 1 mod1: 10 samples, MSE 0.25, θ [1 -0.5]
sensor 2 mod1: 3 samples, MSE 1, θ [0 2]
predict 1 mod1: y 0.25 in [-0.75, 1.25] at 0.95
event 1 mod1 anomaly at sample 9, 2026-12-06T12:00:00Z
`
	if out.String() != want {
		t.Errorf("report printed\n%s\nwant\n%s", out.String(), want)
	}
}

// TestDocsShowExample: docs/api.md shows example_test.go as it is, from
// its imports on, so the example there compiles and runs.
func TestDocsShowExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "\nimport (")
	if !ok {
		t.Fatal("example_test.go has no import block")
	}
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```go\nimport ("+body+"```\n") {
		t.Error("docs/api.md does not show client/example_test.go from its imports on in a go block: copy it there")
	}
}
