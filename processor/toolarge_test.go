package processor

import (
	"bytes"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/schema"
)

// TestValueTooLarge: a value over MaxValueBytes is dead-lettered with
// reason too-large, undecoded and counted under that reason, and writes no
// state for a new sensor; the sensor's samples before and after it apply.
func TestValueTooLarge(t *testing.T) {
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	r.h.MaxValueBytes = 64
	good := codec.Encode(codec.FormatText, nil, []codec.Sample{{X: []float64{1, 2}, Y: 3}})
	// A valid sample padded past the limit: its size alone refuses it.
	padded := append(bytes.Repeat([]byte(" "), 64), good...)
	r.process("s", 0, good)
	r.process("s", 1, padded)
	r.process("new", 2, padded)
	r.process("s", 3, good)
	r.batch().flush(false)

	dl := r.prod.written[r.h.Names.DeadLetter]
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dl))
	}
	for _, m := range dl {
		if got := string(m.headers[schema.HeaderReason]); got != ReasonTooLarge {
			t.Errorf("dead letter of %q: reason %q, want %q", m.key, got, ReasonTooLarge)
		}
		if !bytes.Equal(m.value, padded) {
			t.Errorf("dead letter of %q: value %q, want the input", m.key, m.value)
		}
	}
	c := r.h.counts()
	if n := c.Applied.Load(); n != 2 {
		t.Errorf("%d samples applied, want 2", n)
	}
	if n := c.rejected[reasonIndex[ReasonTooLarge]].Load(); n != 2 {
		t.Errorf("%d rejected as too-large, want 2", n)
	}
	for _, m := range r.prod.written[r.h.batches.table] {
		if m.key == "new" {
			t.Errorf("a state was written for the sensor whose only value was too large")
		}
	}

	// The limit is the default without a setting, and the value at the
	// limit is taken.
	h := newTestHandler(0)
	if h.maxValue() != DefaultMaxValueBytes {
		t.Errorf("default limit %d, want %d", h.maxValue(), DefaultMaxValueBytes)
	}
	r.h.MaxValueBytes = len(good)
	r.process("s", 4, good)
	if n := c.Applied.Load(); n != 3 {
		t.Errorf("%d samples applied, want 3 (a value at the limit is taken)", n)
	}
}

// TestMaxValueBytesSetting: the processor's configuration checks
// MaxValueBytes, and the default dimension bound is the fleet's.
func TestMaxValueBytesSetting(t *testing.T) {
	for _, n := range []int{-1, 1 << 31} {
		if err := (Config{MaxValueBytes: n}).Validate(); err == nil {
			t.Errorf("MaxValueBytes %d: no error", n)
		}
	}
	cfg := Config{Learner: RLS{Specs: newTestHandler(0).Learner.(RLS).Specs}}.withDefaults()
	if cfg.MaxValueBytes != DefaultMaxValueBytes || cfg.MaxDim != DefaultFleetMaxDim {
		t.Errorf("defaults MaxValueBytes %d, MaxDim %d: want %d, %d", cfg.MaxValueBytes, cfg.MaxDim, DefaultMaxValueBytes, DefaultFleetMaxDim)
	}
	t.Logf("state of a sensor at the default max dim: %d bytes", cfg.Learner.StateSize(DefaultFleetMaxDim))
}
