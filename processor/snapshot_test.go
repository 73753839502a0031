package processor

import (
	"testing"
	"time"
)

// TestSnapshotDue walks one sensor through messages of several sizes and
// checks each rule of Snapshots.
func TestSnapshotDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type msg struct {
		prev, now uint64
		at        time.Duration
		want      bool
	}
	cases := []struct {
		name   string
		policy Snapshots
		msgs   []msg
	}{
		{"off", Snapshots{}, []msg{{0, 1, 0, false}, {1, 500, time.Hour, false}}},
		{"count", Snapshots{Every: 100}, []msg{
			{0, 3, 0, true},    // first samples
			{3, 99, 0, false},  // below 100
			{99, 100, 0, true}, // reaches 100
			{100, 150, 0, false},
			{150, 350, 0, true},  // a batch crossing two multiples: one snapshot
			{350, 350, 0, false}, // nothing applied (all rejected)
			{350, 399, time.Hour, false},
		}},
		{"interval", Snapshots{Interval: time.Second}, []msg{
			{0, 1, 0, true},
			{1, 2, 500 * time.Millisecond, false},
			{2, 3, 999 * time.Millisecond, false},
			{3, 4, 1000 * time.Millisecond, true},
			{4, 5, 1500 * time.Millisecond, false},
			{5, 5, 3 * time.Second, false}, // not updated: no snapshot
			{5, 6, 3 * time.Second, true},
		}},
		{"both", Snapshots{Every: 10, Interval: time.Second}, []msg{
			{0, 1, 0, true},
			{1, 10, 100 * time.Millisecond, true}, // count
			{10, 11, 1050 * time.Millisecond, false},
			{11, 12, 1100 * time.Millisecond, true}, // a second after the count's snapshot
		}},
	}
	for _, c := range cases {
		h := &Handler{Snapshots: c.policy}
		for i, m := range c.msgs {
			if got := h.snapshotDue("s", m.prev, m.now, t0.Add(m.at)); got != m.want {
				t.Errorf("%s: message %d (%d→%d at %v): due %v, want %v", c.name, i, m.prev, m.now, m.at, got, m.want)
			}
		}
	}

	// In memory only: a new handler (a restart) publishes at a sensor's first
	// message by time even though its count says no.
	h := &Handler{Snapshots: Snapshots{Every: 100, Interval: time.Minute}}
	if !h.snapshotDue("s", 120, 121, t0) {
		t.Error("after a restart the first message by time publishes at once")
	}
	if h.snapshotDue("s", 121, 122, t0.Add(time.Second)) {
		t.Error("second message within the interval published")
	}
	if !h.snapshotDue("other", 50, 51, t0.Add(time.Second)) {
		t.Error("sensors share the clock")
	}
}
