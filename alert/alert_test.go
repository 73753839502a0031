package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/schema"
)

func TestSenderPostsSignedAndResolves(t *testing.T) {
	var mu sync.Mutex
	var got []Alert
	fails := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get(SignatureHeader) != Sign([]byte("k"), body) {
			t.Errorf("bad signature %q", r.Header.Get(SignatureHeader))
		}
		var as []Alert
		if err := json.Unmarshal(body, &as); err != nil {
			t.Error(err)
		}
		got = append(got, as...)
	}))
	defer srv.Close()
	s, err := New(Config{Webhook: srv.URL, WebhookSecret: []byte("k"), Labels: map[string]string{"team": "a"},
		ExternalURL: "http://x/", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	z := 9.5
	wait := func(want int) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == want || time.Now().After(deadline) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.Event("g", schema.Event{Sensor: "s/1", Model: "m", Kind: schema.EventAnomaly, Test: schema.TestSpread, Z: &z, SampleTime: "2026-01-01T00:00:00Z"})
	wait(1)
	s.Event("g", schema.Event{Sensor: "s/1", Model: "m", Kind: schema.EventAnomalyEnd, SampleTime: "2026-01-01T00:00:05Z"})
	s.Event("g", schema.Event{Sensor: "s/1", Model: "m", Kind: schema.EventDrift, Statistic: &z, SampleTime: "2026-01-01T00:00:06Z"})
	wait(3)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("got %d alerts, want 3", len(got))
	}
	a, end, d := got[0], got[1], got[2]
	if a.Labels["alertname"] != NameAnomaly || a.Labels["sensor"] != "s/1" || a.Labels["team"] != "a" ||
		a.StartsAt != "2026-01-01T00:00:00Z" || a.EndsAt != "" || a.Annotations["z"] != "9.5" || a.Annotations["test"] != "spread" {
		t.Errorf("anomaly alert %+v", a)
	}
	if a.GeneratorURL != "http://x/sensors/s%2F1?group=g" {
		t.Errorf("link %q", a.GeneratorURL)
	}
	if end.StartsAt != a.StartsAt || end.EndsAt != "2026-01-01T00:00:05Z" {
		t.Errorf("resolving alert %+v", end)
	}
	if d.Labels["alertname"] != NameDrift || d.EndsAt != "2026-01-01T01:00:06Z" {
		t.Errorf("drift alert %+v", d)
	}
	r := s.Receivers()[0]
	if r.Sent() != 3 || r.Failed() != 0 || r.Dropped() != 0 {
		t.Errorf("sent %d failed %d dropped %d", r.Sent(), r.Failed(), r.Dropped())
	}
}

func TestSenderDropsWhenFull(t *testing.T) {
	s, err := New(Config{Alertmanager: "http://127.0.0.1:1", Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.Event("g", schema.Event{Sensor: "a", Model: "m", Kind: schema.EventDrift, SampleTime: "2026-01-01T00:00:00Z"})
	}
	if d := s.Receivers()[0].Dropped(); d != 2 {
		t.Errorf("dropped %d, want 2", d)
	}
	if _, err := New(Config{Webhook: "http://x"}); err == nil {
		t.Error("a webhook without a secret was accepted")
	}
}

func TestCoalesce(t *testing.T) {
	l := map[string]string{"alertname": NameAnomaly, "sensor": "a"}
	b := coalesce([]Alert{{Labels: l, StartsAt: "t0"}, {Labels: l, StartsAt: "t0", EndsAt: "t1"}, {Labels: l, StartsAt: "t2"}})
	if len(b) != 2 || b[0].EndsAt != "t1" || b[1].StartsAt != "t2" {
		t.Errorf("coalesced %+v", b)
	}
}

func TestResendOpenEpisodes(t *testing.T) {
	s, err := New(Config{Alertmanager: "http://127.0.0.1:1", Webhook: "http://127.0.0.1:1", WebhookSecret: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	s.Event("g", schema.Event{Sensor: "a", Model: "m", Kind: schema.EventAnomaly, SampleTime: "2026-01-01T00:00:00Z"})
	s.Event("g", schema.Event{Sensor: "b", Model: "m", Kind: schema.EventAnomaly, SampleTime: "2026-01-01T00:00:00Z"})
	s.Event("g", schema.Event{Sensor: "b", Model: "m", Kind: schema.EventAnomalyEnd, SampleTime: "2026-01-01T00:00:01Z"})
	s.resend()
	am, hook := s.Receivers()[0], s.Receivers()[1]
	if len(am.queue) != 4 || len(hook.queue) != 3 {
		t.Errorf("queued %d for Alertmanager, %d for the webhook; want 4 (sensor a again), 3", len(am.queue), len(hook.queue))
	}
}
