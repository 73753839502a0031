package processor

import (
	"errors"
	"testing"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/setting"
)

// TestJSONMapping: a handler with a mapping learns from records of another
// shape and dead-letters one that lacks a mapped path.
func TestJSONMapping(t *testing.T) {
	cfg := Config{JSONMapping: codec.JSONMapping{Y: "reading.temp", X: []string{"reading.hum", "reading.volt"}, TS: "ts"}}
	jm, err := cfg.jsonMap()
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(0)
	h.Mapping = jm
	c := &fakeCtx{key: "a1", owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
	h.Process(c, []byte(`{"device": "a1", "ts": "2026-12-06T10:00:00Z", "reading": {"temp": 21.3, "hum": 40.2, "volt": 3.3}}`))
	c.off = 1
	h.Process(c, []byte(`{"device": "a1", "ts": "2026-12-06T10:00:01Z", "reading": {"temp": 21.3, "volt": 3.3}}`))
	rec := stored(t, c, "a1")
	if rec.Samples != 1 || rec.Rejected != 1 || rec.Dim != 2 || c.emits < 1 {
		t.Errorf("state %+v, %d emits; want 1 sample of dimension 2, 1 rejected and its dead letter", rec.Meta, c.emits)
	}
	if n := h.counts().Rejected(ReasonDecode); n != 1 {
		t.Errorf("%d decode rejections, want 1", n)
	}
}

func TestJSONMappingValidate(t *testing.T) {
	for field, m := range map[string]codec.JSONMapping{
		"JSONMapping.Y":  {Y: "a..b", X: []string{"c"}},
		"JSONMapping.X":  {Y: "a"},
		"JSONMapping.TS": {Y: "a", X: []string{"b"}, TS: "a"},
	} {
		var se *setting.Error
		if err := (Config{JSONMapping: m}).Validate(); !errors.As(err, &se) || se.Field != field {
			t.Errorf("%+v: got %v, want a setting error of %s", m, err, field)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Error(err)
	}
}
