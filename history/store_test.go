package history_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
)

// bankSnap is a snapshot of a real bank of dimension 3 after n samples.
func bankSnap(sensor string, n uint64) schema.Snapshot {
	b := rls.NewBank(rls.DefaultSpecs(), 3)
	for i := uint64(0); i < n%7+1; i++ {
		x := []float64{float64(i), 1, float64(n % 5)}
		_ = b.Update(x, 2*x[0]-x[2]+float64(n))
	}
	s := schema.Snapshot{Sensor: sensor, Samples: n, Rejected: n / 10, Dim: 3, Models: codec.DescribeBank(b)}
	s.SetUpdated(1700000000000 + int64(n))
	return s
}

// curve is what the curves show of points (the fields a store on disk
// keeps), to compare stores.
func curve(points []schema.Snapshot) []schema.Snapshot {
	out := make([]schema.Snapshot, len(points))
	for i, p := range points {
		out[i] = schema.Snapshot{Samples: p.Samples, Rejected: p.Rejected, UpdatedMs: p.UpdatedMs, Dim: p.Dim}
		for _, m := range p.Models {
			out[i].Models = append(out[i].Models, schema.Model{Name: m.Name, Lambda: m.Lambda, Delta: m.Delta,
				Theta: m.Theta, MSE: m.MSE, RecentMSE: m.RecentMSE, PTrace: m.PTrace, Samples: m.Samples})
		}
	}
	return out
}

// dbBytes recounts a closed store's keys and values with LevelDB itself.
func dbBytes(t *testing.T, dir string) (int64, int) {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total int64
	n := 0
	it := db.NewIterator(nil, nil)
	for it.Next() {
		total += int64(len(it.Key()) + len(it.Value()))
		n++
	}
	it.Release()
	return total, n
}

// TestStoreOnDiskEqualsMemory: the curves a store on disk gives back after
// a reopen are those of a store in memory fed the same snapshots, to the
// bit (the HTTP API's history and plots are made from them), and the
// offsets recorded come back.
func TestStoreOnDiskEqualsMemory(t *testing.T) {
	dir := t.TempDir()
	disk, err := history.OpenStore(dir, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	mem := history.NewStore(16)
	for n := uint64(1); n <= 100; n++ {
		for _, id := range []string{"a", "b\x00c", "1"} {
			if n%3 == 0 && id == "1" {
				continue
			}
			s := bankSnap(id, n)
			if disk.Add(s) != mem.Add(s) {
				t.Fatalf("sensor %q snapshot %d: stores disagree", id, n)
			}
		}
		disk.Record(int32(n%4), int64(n))
	}
	disk.Add(bankSnap("a", 50)) // a duplicate
	if err := disk.Close(); err != nil {
		t.Fatal(err)
	}
	disk, err = history.OpenStore(dir, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	if got, want := disk.Offsets(), map[int32]int64{0: 100, 1: 97, 2: 98, 3: 99}; !reflect.DeepEqual(got, want) {
		t.Errorf("offsets %v, want %v", got, want)
	}
	if got, want := disk.Sensors(), mem.Sensors(); !reflect.DeepEqual(got, want) {
		t.Errorf("sensors %q, want %q", got, want)
	}
	for _, id := range mem.Sensors() {
		want := curve(mem.Points(id))
		got := curve(disk.Points(id))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("sensor %q: history from disk differs:\n got %+v\nwant %+v", id, got, want)
		}
		if len(disk.Points(id)) > 17 {
			t.Errorf("sensor %q: %d points", id, len(disk.Points(id)))
		}
	}
}

// TestStoreTotalBound writes many sensors' curves into a small store: the
// bytes it holds, recounted key by key with LevelDB, stay under the bound,
// and the sensors updated most recently keep their whole curves (equal to
// an unbounded store's).
func TestStoreTotalBound(t *testing.T) {
	const bound = 256 << 10
	dir := t.TempDir()
	st, err := history.OpenStore(dir, 64, bound)
	if err != nil {
		t.Fatal(err)
	}
	mem := history.NewStore(64)
	const sensors = 400
	for round := uint64(1); round <= 30; round++ {
		for i := range sensors {
			s := bankSnap(fmt.Sprint(i), round)
			st.Add(s)
			mem.Add(s)
		}
	}
	// The last 20 sensors get more snapshots: they are the most recent.
	for round := uint64(31); round <= 200; round++ {
		for i := sensors - 20; i < sensors; i++ {
			s := bankSnap(fmt.Sprint(i), round)
			st.Add(s)
			mem.Add(s)
		}
	}
	if b := st.Bytes(); b > bound {
		t.Errorf("store holds %d bytes, bound %d", b, bound)
	}
	for i := sensors - 20; i < sensors; i++ {
		id := fmt.Sprint(i)
		got := curve(st.Points(id))
		want := curve(mem.Points(id))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("recent sensor %s lost points: %d points, want %d", id, len(got), len(want))
		}
	}
	kept := len(st.Sensors())
	if kept >= sensors || kept < 20 {
		t.Errorf("%d of %d sensors kept: the bound should drop some and keep the recent ones", kept, sensors)
	}
	if st.Points("0") != nil {
		t.Error("the least recently updated sensor kept its curve")
	}
	accounted := st.Bytes()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	total, entries := dbBytes(t, dir)
	t.Logf("%d sensors kept, %d bytes accounted, %d bytes in %d entries", kept, accounted, total, entries)
	// Beyond the accounted entries the database holds the offsets and one
	// totals key.
	if total > bound+64 || total < accounted {
		t.Errorf("database holds %d bytes, accounted %d, bound %d", total, accounted, bound)
	}
}

// TestStoreThinsBeforeDropping: over the bound, the curves of the sensors
// updated least recently are thinned first, oldest first — every second
// point dropped until 32 or fewer remain or the store fits, the first and
// the newest kept, evenly spaced — and nobody loses a whole curve while a
// long one can be thinned; the recent sensors keep every point.
func TestStoreThinsBeforeDropping(t *testing.T) {
	const old, recent, rounds = 10, 10, 200
	feed := func(st *history.Store, prefix string, n int) {
		for round := uint64(1); round <= rounds; round++ {
			for i := range n {
				st.Add(bankSnap(fmt.Sprint(prefix, i), round))
			}
		}
	}
	mem := history.NewStore(256)
	feed(mem, "old", old)
	bound := mem.Bytes() * 13 / 10 // room for the old curves and a third of the recent ones
	feed(mem, "new", recent)
	dir := t.TempDir()
	st, err := history.OpenStore(dir, 256, bound)
	if err != nil {
		t.Fatal(err)
	}
	feed(st, "old", old)
	feed(st, "new", recent)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if b := st.Bytes(); b > bound {
		t.Errorf("store holds %d bytes, bound %d", b, bound)
	}
	if n := len(st.Sensors()); n != old+recent {
		t.Errorf("%d sensors keep a curve, want all %d: thinning was enough", n, old+recent)
	}
	for i := range recent {
		id := fmt.Sprint("new", i)
		if got, want := len(st.Points(id)), len(mem.Points(id)); got != want {
			t.Errorf("recent sensor %s: %d points, want all %d", id, got, want)
		}
	}
	thinned, floor := 0, 0
	for i := range old {
		pts := st.Points(fmt.Sprint("old", i))
		if len(pts) == rounds {
			continue
		}
		thinned++
		if len(pts) <= 33 {
			floor++
		}
		if pts[0].Samples != 1 || pts[len(pts)-1].Samples != rounds {
			t.Errorf("old%d thinned to %d points, first %d, last %d: want sample 1 to %d",
				i, len(pts), pts[0].Samples, pts[len(pts)-1].Samples, rounds)
			continue
		}
		step := pts[1].Samples - pts[0].Samples
		for k := 1; k < len(pts)-1; k++ {
			if pts[k].Samples-pts[k-1].Samples != step {
				t.Errorf("old%d: uneven spacing at point %d (%d after %d, step %d)", i, k, pts[k].Samples, pts[k-1].Samples, step)
				break
			}
		}
	}
	if thinned == 0 || floor == 0 {
		t.Errorf("%d old curves thinned, %d of them to 32 points or fewer", thinned, floor)
	}
	if len(st.Points("old0")) == rounds {
		t.Error("the least recently updated sensor was not thinned first")
	}
	accounted := st.Bytes()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if total, _ := dbBytes(t, dir); total > bound+64 || total < accounted {
		t.Errorf("database holds %d bytes, accounted %d, bound %d", total, accounted, bound)
	}
}
