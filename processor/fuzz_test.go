package processor

import (
	"math"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
)

// FuzzProcess feeds the whole callback any key and value (or a null value)
// between good samples, with and without batches. No message may panic,
// stall, or be neither applied nor dead-lettered; a bad message must not
// disturb another sensor, and a valid sensor ID keeps exact counts.
//
//	go test ./processor -run '^$' -fuzz FuzzProcess -fuzztime 60s
func FuzzProcess(f *testing.F) {
	good := codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: []float64{1, 2, 3}, Y: 1}})
	for _, s := range []struct {
		key   string
		value []byte
		null  bool
	}{
		{"s", good, false},
		{"s", codec.Encode(codec.FormatText, nil, []codec.Sample{{X: []float64{1, 2, 3}, Y: 1}}), false},
		{"s", codec.AppendBinary(nil, []codec.Sample{{X: []float64{1, 2, 3}, Y: 1}, {X: []float64{1, 2, math.NaN()}, Y: 1}}), false},
		{"s", codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: []float64{1e308, 1e308, 1e308}, Y: 1e308}}), false},
		{"s", []byte(`{"samples":[{"y":1,"x":[1,2,3]},{"y":"no","x":[1]}]}`), false},
		{"s", nil, true},
		{"", good, false},
		{"__offset", good, false},
		{"\xff", good, false},
		{"..", good, false},
		{"s", []byte("oops"), false},
		{"s", []byte{}, false},
	} {
		f.Add(s.key, s.value, s.null)
	}
	f.Fuzz(func(t *testing.T, key string, value []byte, null bool) {
		var msg any = value
		if null {
			msg = nil
		}
		t.Run("per message", func(t *testing.T) { fuzzDirect(t, key, msg, good) })
		t.Run("batched", func(t *testing.T) { fuzzBatched(t, key, msg, good) })
	})
}

func fuzzDirect(t *testing.T, key string, msg any, good []byte) {
	h := newTestHandler(0)
	h.Metrics = NewMetrics(nil)
	c := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
	off := int64(0)
	send := func(k string, m any) (applied, rejected float64, emits int) {
		a0, r0, e0 := float64(h.Metrics.Applied.Load()), rejectedTotal(h.Metrics), c.emits
		c.key, c.off = k, off
		off++
		done := make(chan struct{})
		go func() { defer close(done); h.Process(c, m) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("message %q under key %q: the callback did not return in 10s", m, k)
		}
		return float64(h.Metrics.Applied.Load()) - a0, rejectedTotal(h.Metrics) - r0, c.emits - e0
	}
	send("other", good)
	applied, rejected, emits := send(key, msg)
	if applied == 0 && emits == 0 {
		t.Fatalf("key %q value %q: neither applied nor dead-lettered", key, msg)
	}
	if (rejected > 0) != (emits > 0) {
		t.Fatalf("key %q value %q: %v rejected but %d dead letters", key, msg, rejected, emits)
	}
	send("other", good)
	if r := stored(t, c, "other"); r.Samples != 2 || r.Rejected != 0 {
		t.Fatalf("another sensor disturbed: %d samples, %d rejected; want 2 and 0", r.Samples, r.Rejected)
	}
	if b := c.table[key]; b != nil && key != "other" {
		if reason, _ := checkKey(key); reason != "" {
			t.Fatalf("key %q (%s) reached the table", key, reason)
		}
		if r := stored(t, c, key); float64(r.Samples) != applied {
			t.Fatalf("sensor %q: %d samples in the table, %v applied", key, r.Samples, applied)
		}
	}
}

func fuzzBatched(t *testing.T, key string, msg any, good []byte) {
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	r.h.Metrics = NewMetrics(nil)
	r.h.batches.metrics = r.h.Metrics
	r.ctx.key, r.ctx.off = "other", 0
	r.h.Process(r.ctx, good)
	r.ctx.key, r.ctx.off = key, 1
	r.h.Process(r.ctx, msg)
	r.ctx.key, r.ctx.off = "other", 2
	r.h.Process(r.ctx, good)
	r.batch().flush(false)
	dead := r.prod.written[r.h.Names.DeadLetter]
	applied := float64(r.h.Metrics.Applied.Load()) - 2
	if applied == 0 && len(dead) == 0 {
		t.Fatalf("key %q value %q: neither applied nor dead-lettered", key, msg)
	}
	if got := r.committed(); len(got) != 3 {
		t.Fatalf("%d of 3 messages committed", len(got))
	}
	for _, m := range r.prod.written[r.h.batches.table] {
		if reason, _ := checkKey(m.key); reason != "" {
			t.Fatalf("key %q (%s) reached the changelog", m.key, reason)
		}
	}
	b, _ := r.store.Get("other")
	v, err := r.h.batches.codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec := v.(*Record); rec.Samples != 2 && key != "other" {
		t.Fatalf("another sensor disturbed: %d samples, want 2", rec.Samples)
	}
}

func rejectedTotal(m *Metrics) float64 { return float64(m.RejectedAll()) }
