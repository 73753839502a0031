package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/schema"
)

// TestSensorsStopsOnAListThatDoesNotAdvance: a server whose next never
// moves past the last page makes Sensors fail, not loop.
func TestSensorsStopsOnAListThatDoesNotAdvance(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_ = json.NewEncoder(w).Encode(schema.Sensors{Sensors: []string{"b"}, Next: "b"})
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := (&client.Client{BaseURL: srv.URL}).Sensors(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Sensors = %q, %v (context %v); want an error at once", ids, err, ctx.Err())
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the second page repeats the first's next)", n)
	}
}

// TestSensorPaths: an ID is one escaped path segment; "", "." and ".."
// are refused without a request.
func TestSensorPaths(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	c := &client.Client{BaseURL: srv.URL, Group: "g/1"}
	ctx := context.Background()
	if _, err := c.Sensor(ctx, "a/b ?#%"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.History(ctx, "..."); err != nil {
		t.Fatal(err)
	}
	want := []string{"/v1/groups/g%2F1/sensors/a%2Fb%20%3F%23%25", "/v1/groups/g%2F1/sensors/.../history"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("requested %q, want %q", got, want)
	}
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.Sensor(ctx, id); err == nil {
			t.Errorf("Sensor(%q): no error", id)
		}
		if _, err := c.Predict(ctx, id, []float64{1}); err == nil {
			t.Errorf("Predict(%q): no error", id)
		}
	}
	if len(got) != 2 {
		t.Errorf("%d requests, want 2: an invalid ID was asked", len(got))
	}
}

// TestEventsQuery: Events asks …/events with the limit given, none for 0.
func TestEventsQuery(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RequestURI())
		_ = json.NewEncoder(w).Encode(schema.Events{Sensor: "a", Events: []schema.Event{{Sensor: "a", Kind: schema.EventDrift}}})
	}))
	defer srv.Close()
	c := &client.Client{BaseURL: srv.URL}
	ctx := context.Background()
	out, err := c.Events(ctx, "a", 5)
	if err != nil || len(out.Events) != 1 || out.Events[0].Kind != schema.EventDrift {
		t.Fatalf("Events = %+v, %v", out, err)
	}
	if _, err := c.Events(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Events(ctx, "..", 1); err == nil {
		t.Error("Events(\"..\"): no error")
	}
	want := []string{"/v1/sensors/a/events?limit=5", "/v1/sensors/a/events"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("requested %q, want %q", got, want)
	}
}
