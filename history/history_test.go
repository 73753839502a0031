package history

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
)

func snap(sensor string, samples uint64) schema.Snapshot {
	return schema.Snapshot{Sensor: sensor, Samples: samples}
}

func samplesOf(ps []schema.Snapshot) []uint64 {
	out := make([]uint64, len(ps))
	for i, p := range ps {
		out[i] = p.Samples
	}
	return out
}

// TestStoreDownsamples feeds many snapshots into a small store and checks
// the kept points against a recomputation: every stride-th snapshot, where
// stride is the smallest power of two that keeps at most max of them, plus
// the newest.
func TestStoreDownsamples(t *testing.T) {
	const max = 8
	for _, total := range []uint64{1, 7, 8, 9, 16, 17, 33, 100, 1000} {
		st := NewStore(max)
		for k := uint64(0); k < total; k++ {
			if !st.Add(snap("a", 10*(k+1))) {
				t.Fatalf("total %d: snapshot %d refused", total, k)
			}
		}
		stride := uint64(1)
		// The store halves when a point would be the (max+1)-th.
		for (total-1)/stride+1 > max {
			stride *= 2
		}
		var want []uint64
		for k := uint64(0); k < total; k += stride {
			want = append(want, 10*(k+1))
		}
		if want[len(want)-1] != 10*total {
			want = append(want, 10*total)
		}
		got := samplesOf(st.Points("a"))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("total %d: points %v, want %v", total, got, want)
		}
		if len(got) > max+1 {
			t.Errorf("total %d: %d points, bound is %d+1", total, len(got), max)
		}
	}
}

// TestStoreDedups drops redelivered snapshots (same or lower sample count)
// and keeps sensors apart.
func TestStoreDedups(t *testing.T) {
	st := NewStore(100)
	for _, n := range []uint64{1, 100, 200, 200, 100, 300, 250, 400} {
		st.Add(snap("s", n))
	}
	st.Add(snap("t", 5))
	if got, want := samplesOf(st.Points("s")), []uint64{1, 100, 200, 300, 400}; !reflect.DeepEqual(got, want) {
		t.Errorf("points %v, want %v", got, want)
	}
	if st.Add(snap("s", 400)) {
		t.Error("a duplicate of the newest snapshot was added")
	}
	if got := st.Sensors(); !reflect.DeepEqual(got, []string{"s", "t"}) {
		t.Errorf("sensors %v", got)
	}
	if st.Points("u") != nil {
		t.Error("points of an unknown sensor")
	}
	if l, ok := st.Latest("t"); !ok || l.Samples != 5 {
		t.Errorf("latest of t: %v %v", l, ok)
	}
}

// TestSnapshotJSON round-trips a snapshot made from a real bank and checks
// the documented field names, which kcat and Python users read.
func TestSnapshotJSON(t *testing.T) {
	b := rls.NewBank(rls.DefaultSpecs(), 3)
	for i := 0; i < 20; i++ {
		x := []float64{float64(i), 1, float64(i % 3)}
		if err := b.Update(x, 2*x[0]-x[2]); err != nil {
			t.Fatal(err)
		}
	}
	s := schema.Snapshot{Sensor: "24", Group: "rls", Partition: 3, Offset: 41, Samples: 20, Rejected: 1, Dim: 3, Models: codec.DescribeBank(b)}
	s.SetUpdated(1700000000123)
	raw, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSnapshot([]byte("24"), raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if got.Updated != "2023-11-14T22:13:20.123Z" {
		t.Errorf("updated %q", got.Updated)
	}
	for i, m := range b.Models {
		if !reflect.DeepEqual(got.Models[i].Theta, m.Theta) || got.Models[i].PTrace != m.PTrace() || got.Models[i].MSE != m.MSE {
			t.Errorf("model %s differs from the bank", m.Name)
		}
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sensor", "group", "partition", "offset", "samples", "rejected", "updated", "updated_ms", "dim", "models"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("field %q missing in %s", k, raw)
		}
	}
	m0 := generic["models"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "lambda", "delta", "theta", "mse", "recent_mse", "samples", "p_trace"} {
		if _, ok := m0[k]; !ok {
			t.Errorf("model field %q missing", k)
		}
	}
	if _, err := DecodeSnapshot(nil, []byte(`{"samples": 3}`)); err == nil {
		t.Error("a snapshot without sensor nor key was accepted")
	}
	if _, err := DecodeSnapshot([]byte("k"), []byte(`[1, 2]`)); err == nil {
		t.Error("a non-object was accepted")
	}
	if got, err := DecodeSnapshot(nil, raw); err != nil || got.Sensor != "24" {
		t.Errorf("a snapshot without key: sensor %q, %v; want 24 from its field", got.Sensor, err)
	}
	if got, err := DecodeSnapshot([]byte("a b/ü"), []byte(`{"samples": 3}`)); err != nil || got.Sensor != "a b/ü" {
		t.Errorf("a snapshot without sensor field: sensor %q, %v; want its key", got.Sensor, err)
	}
	for _, c := range []struct {
		key  string
		body string
	}{
		{"25", string(raw)},                                   // the field names another sensor than the key
		{"\xff\xfe", `{"sensor":"\ufffd\ufffd"}`},             // invalid UTF-8 key: JSON cannot hold it
		{"\xff\xfe", `{"samples": 3}`},                        // invalid key, no field
		{"a\x00b", `{"sensor":"a\u0000b"}`},                   // control character
		{"..", `{"sensor":".."}`},                             // names no resource
		{"", `{"sensor":"` + strings.Repeat("k", 257) + `"}`}, // too long, no key
	} {
		if s, err := DecodeSnapshot([]byte(c.key), []byte(c.body)); err == nil {
			t.Errorf("DecodeSnapshot(%q, %s) = sensor %q, want an error", c.key, c.body, s.Sensor)
		}
	}
}

// TestFollowerDropsForgedSnapshots: the follower files a snapshot under its
// key only, and counts (not stores) one whose sensor field is another
// sensor or no sensor ID.
func TestFollowerDropsForgedSnapshots(t *testing.T) {
	f, err := NewFollower(FollowerConfig{Group: "rls"})
	if err != nil {
		t.Fatal(err)
	}
	snap := func(sensor string, samples uint64) []byte {
		s := schema.Snapshot{Sensor: sensor, Group: "rls", Samples: samples, Dim: 1}
		b, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, m := range []struct {
		key   string
		value []byte
	}{
		{"a", snap("a", 1)},
		{"a", snap("b", 2)},           // forged: files nothing under b
		{"\xff", snap("\xff", 3)},     // the field becomes U+FFFD
		{"\ufffd", snap("\ufffd", 4)}, // a valid ID of its own
		{"a", snap("a", 5)},
	} {
		f.take(&sarama.ConsumerMessage{Key: []byte(m.key), Value: m.value, Offset: int64(i)})
	}
	if got := f.Dropped(); got != 2 {
		t.Errorf("dropped %d snapshots, want 2", got)
	}
	if n := len(f.Store().Points("a")); n != 2 {
		t.Errorf("sensor a has %d points, want 2", n)
	}
	if n := len(f.Store().Points("b")); n != 0 {
		t.Errorf("sensor b has %d points from a forged snapshot, want 0", n)
	}
	if n := len(f.Store().Points("\ufffd")); n != 1 {
		t.Errorf("sensor U+FFFD has %d points, want 1 (its own only)", n)
	}
}
