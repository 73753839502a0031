package history

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/schema"
)

func ev(sensor string, off int64, kind string, at time.Time) schema.Event {
	return schema.Event{Sensor: sensor, Model: "m", Kind: kind, Offset: off, Time: at.UTC().Format(time.RFC3339Nano)}
}

// TestEventStore checks the bounds (per sensor, in total: the sensor with
// the oldest latest event goes first), repeats, order and the counts.
func TestEventStore(t *testing.T) {
	st := NewEventStore(3, 7)
	now := time.Now()
	for i := range 5 {
		st.Add(ev("a", int64(i), schema.EventAnomaly, now.Add(time.Duration(i-5)*time.Hour)))
	}
	if st.Add(ev("a", 4, schema.EventAnomaly, now)) {
		t.Error("a repeat was kept")
	}
	got := st.Events("a", 10)
	if len(got) != 3 || got[0].Offset != 4 || got[2].Offset != 2 {
		t.Fatalf("events of a: %+v, want offsets 4, 3, 2", got)
	}
	if got := st.Events("a", 1); len(got) != 1 || got[0].Offset != 4 {
		t.Errorf("limit 1: %+v", got)
	}
	st.Add(ev("b", 0, schema.EventDrift, now))
	st.Add(ev("b", 1, schema.EventAnomaly, now))
	st.Add(ev("c", 0, schema.EventDrift, now))
	if st.Len() != 6 {
		t.Errorf("%d events kept, want 6", st.Len())
	}
	st.Add(ev("c", 1, schema.EventDrift, now)) // 7: at the bound
	st.Add(ev("c", 2, schema.EventDrift, now)) // 8: a goes
	if n := len(st.Events("a", 10)); n != 0 || st.Len() != 5 {
		t.Errorf("a keeps %d events, %d in all; want 0 and 5", n, st.Len())
	}
	if an, dr, atLeast := st.Recent("b", now.Add(-time.Minute)); an != 1 || dr != 1 || atLeast {
		t.Errorf("recent of b: %d anomalies, %d drifts (at least: %v); want 1, 1 exactly", an, dr, atLeast)
	}
	if an, dr, _ := st.Recent("b", now.Add(time.Minute)); an != 0 || dr != 0 {
		t.Errorf("recent of b after now: %d, %d", an, dr)
	}
	// c keeps its 3 events, all recent: there may have been more.
	if an, dr, atLeast := st.Recent("c", now.Add(-time.Minute)); an != 0 || dr != 3 || !atLeast {
		t.Errorf("recent of c: %d anomalies, %d drifts (at least: %v); want 0, 3, at least", an, dr, atLeast)
	}
	if _, _, atLeast := st.Recent("c", now.Add(time.Minute)); atLeast {
		t.Error("recent of c since after its events: at least, though its oldest kept event is older")
	}
	// Active: the sensors with recent events, each with its Recent counts.
	st.Add(ev("d", 0, schema.EventAnomaly, now.Add(-2*time.Hour)))
	act := st.Active(now.Add(-time.Minute))
	slices.SortFunc(act, func(a, b Activity) int { return strings.Compare(a.Sensor, b.Sensor) })
	var want []Activity
	for _, id := range []string{"b", "c", "d"} {
		if an, dr, atLeast := st.Recent(id, now.Add(-time.Minute)); an > 0 || dr > 0 {
			want = append(want, Activity{id, an, dr, atLeast})
		}
	}
	if len(want) != 2 || !slices.Equal(act, want) {
		t.Errorf("active: %+v, want %+v (b and c)", act, want)
	}
}

// TestEventFollowerDrops: events that are not JSON, of an unknown kind or
// naming another sensor than their key are dropped.
func TestEventFollowerDrops(t *testing.T) {
	f, err := NewEventFollower(EventFollowerConfig{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	js := func(sensor, kind string) []byte {
		return fmt.Appendf(nil, `{"sensor":%q,"model":"m","kind":%q,"time":"2026-01-01T00:00:00Z"}`, sensor, kind)
	}
	for i, m := range []struct {
		key   string
		value []byte
	}{
		{"a", js("a", "anomaly")},
		{"a", js("b", "drift")}, // forged
		{"a", js("a", "other")},
		{"a", []byte("{")},
		{"b", js("", "drift")}, // sensor from the key
	} {
		f.take(&sarama.ConsumerMessage{Key: []byte(m.key), Value: m.value, Offset: int64(i)})
	}
	if f.Dropped() != 3 || f.Messages() != 5 {
		t.Errorf("dropped %d of %d, want 3 of 5", f.Dropped(), f.Messages())
	}
	if n := len(f.Store().Events("a", 10)); n != 1 {
		t.Errorf("a has %d events, want 1", n)
	}
	if e := f.Store().Events("b", 10); len(e) != 1 || e[0].Sensor != "b" {
		t.Errorf("b: %+v", e)
	}
}
