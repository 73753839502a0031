package view_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/view"
)

// TestOrderedScan writes table values straight into a 3-partition table,
// the keys scattered over the partitions and one sensor in two of them,
// and checks the view's ordered pass (IDs, All, AllExcept, Sensors, Each, Count)
// against a sorted list of the keys written.
func TestOrderedScan(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	const group = "scan"
	_, put := testkit.TableWriter(t, kc, group, 3)

	type rec struct {
		key       string
		partition int32
		updated   int64
		samples   uint64
	}
	var recs []rec
	// Keys in no order, spread over the partitions; byte order puts "10"
	// before "9" and "a" after "Z".
	keys := []string{"9", "10", "a", "Z", "b-1", "b", "7", "70", "700", "x\x00y", "é", "0"}
	for i, k := range keys {
		recs = append(recs, rec{k, int32(i*7) % 3, 1000 + int64(i), uint64(10 + i)})
	}
	// "b" also in the next partition, newer (its input moved partition);
	// "7" also in the next partition, older.
	for _, r := range recs {
		switch r.key {
		case "b":
			recs = append(recs, rec{"b", (r.partition + 1) % 3, 5000, 99})
		case "7":
			recs = append(recs, rec{"7", (r.partition + 1) % 3, 1, 1})
		}
	}

	bank := rls.NewBank(rls.DefaultSpecs(), 2)
	for _, r := range recs {
		var payload []byte
		if r.key == "a" {
			payload = codec.AppendBank(nil, bank)
		}
		v := codec.AppendEnvelope(nil, codec.Meta{Partition: r.partition, Offset: 1, Samples: r.samples, Updated: r.updated, Dim: 2}, payload)
		put(r.key, r.partition, v)
	}

	ctx := testkit.Context(t, time.Minute)
	v := testkit.StartView(t, ctx, kc, group)
	testkit.Eventually(t, 30*time.Second, func() error {
		if n, err := v.Count(); err != nil || n != len(recs) {
			return fmt.Errorf("%d of %d keys in the view (%v)", n, len(recs), err)
		}
		return nil
	})

	// The independent answer: the distinct keys sorted, each with the
	// samples of its newest copy.
	want := slices.Clone(keys)
	slices.Sort(want)
	newest := map[string]rec{}
	for _, r := range recs {
		if o, ok := newest[r.key]; !ok || r.updated > o.updated {
			newest[r.key] = r
		}
	}

	for _, after := range []string{"", "0", "1", "7", "70", "b", "b-0", "x", "é", "ü"} {
		var exp []string
		for _, k := range want {
			if k > after {
				exp = append(exp, k)
			}
		}
		var got []string
		for id, err := range v.IDs(after) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("IDs(%q) = %q, want %q", after, got, exp)
		}
		for _, limit := range []int{0, 1, 2, 5, len(exp), len(exp) + 1} {
			ids, more, err := v.Sensors(after, limit)
			if err != nil {
				t.Fatal(err)
			}
			page, wantMore := exp, false
			if limit > 0 && len(exp) > limit {
				page, wantMore = exp[:limit], true
			}
			if !reflect.DeepEqual(ids, page) || more != wantMore {
				t.Errorf("Sensors(%q, %d) = %q, %v; want %q, %v", after, limit, ids, more, page, wantMore)
			}
		}
	}

	// Paging with next = the last ID of a page covers every sensor once.
	var paged []string
	for after := ""; ; {
		ids, more, err := v.Sensors(after, 5)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids...)
		if !more {
			break
		}
		after = ids[len(ids)-1]
	}
	if !reflect.DeepEqual(paged, want) {
		t.Errorf("pages of 5: %q, want %q", paged, want)
	}

	// All and Each: the newest copy of each sensor, as Get has it.
	var got []string
	for s, err := range v.All("") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.ID)
		w := newest[s.ID]
		if s.Meta.Samples != w.samples || s.Meta.Updated != w.updated || s.Meta.Partition != w.partition {
			t.Errorf("sensor %q: %+v, want samples %d updated %d partition %d", s.ID, s.Meta, w.samples, w.updated, w.partition)
		}
		g, ok, err := v.Get(s.ID)
		if err != nil || !ok || g.Meta != s.Meta {
			t.Errorf("Get(%q) = %+v, %v, %v; All has %+v", s.ID, g, ok, err, s.Meta)
		}
		if (s.Bank != nil) != (s.ID == "a") || (s.Bank != nil && s.Bank.Dim != 2) {
			t.Errorf("sensor %q: bank %v", s.ID, s.Bank)
		}
		if s.ID == "b" {
			break // a stopped range releases the iterators; the next pass works
		}
	}
	if !reflect.DeepEqual(got, want[:slices.Index(want, "b")+1]) {
		t.Errorf("All up to b: %q", got)
	}
	got = got[:0]
	if err := v.Each(func(s *view.Sensor) error { got = append(got, s.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Each: %q, want %q", got, want)
	}
	// AllExcept: All without the skipped IDs, whichever partitions hold them.
	skip := map[string]bool{"b": true, "7": true, "0": true}
	var exceptWant []string
	for _, k := range want {
		if k > "0" && !skip[k] {
			exceptWant = append(exceptWant, k)
		}
	}
	got = got[:0]
	for s, err := range v.AllExcept("0", func(id string) bool { return skip[id] }) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.ID)
	}
	if !reflect.DeepEqual(got, exceptWant) {
		t.Errorf("AllExcept(\"0\", b and 7): %q, want %q", got, exceptWant)
	}
	stop := fmt.Errorf("stop")
	n := 0
	if err := v.Each(func(*view.Sensor) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Each with an error from fn: %v after %d calls", err, n)
	}
}
