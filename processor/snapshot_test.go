package processor

import (
	"strconv"
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
		// With a count rule the interval is not used: a sensor updated less
		// often than the interval would otherwise publish at every message.
		{"both", Snapshots{Every: 10, Interval: time.Second}, []msg{
			{0, 1, 0, true},
			{1, 10, 100 * time.Millisecond, true}, // count
			{10, 11, 1050 * time.Millisecond, false},
			{11, 12, 1100 * time.Millisecond, false},
			{12, 13, time.Hour, false},
			{13, 20, time.Hour, true}, // count
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
	// message by time.
	h := &Handler{Snapshots: Snapshots{Interval: time.Minute}}
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

// TestSnapshotVolume: with the default count rule, 100,000 sensors each
// updated less often than the interval publish at most one snapshot per
// --snapshot-every samples (and each its first), not one per sample.
func TestSnapshotVolume(t *testing.T) {
	const sensors, perSensor, every = 100000, 30, 10
	h := &Handler{Snapshots: Snapshots{Every: every, Interval: time.Millisecond}}
	t0 := time.Unix(1000, 0)
	n := 0
	for k := uint64(0); k < perSensor; k++ {
		for s := range sensors {
			if h.snapshotDue(strconv.Itoa(s), k, k+1, t0.Add(time.Duration(k)*time.Second)) {
				n++
			}
		}
	}
	if limit := sensors * (1 + perSensor/every); n > limit {
		t.Errorf("%d snapshots for %d samples, want at most %d", n, sensors*perSensor, limit)
	}
}
