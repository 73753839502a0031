package history_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/rls"
)

// bankSnap is a snapshot of a real bank of dimension 3 after n samples.
func bankSnap(sensor string, n uint64) history.Snapshot {
	b := rls.NewBank(rls.DefaultSpecs(), 3)
	for i := uint64(0); i < n%7+1; i++ {
		x := []float64{float64(i), 1, float64(n % 5)}
		_ = b.Update(x, 2*x[0]-x[2]+float64(n))
	}
	s := history.Snapshot{Sensor: sensor, Samples: n, Rejected: n / 10, Dim: 3, Models: history.Models(b)}
	s.SetUpdated(1700000000000 + int64(n))
	return s
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
		want, _ := history.HistoryOf("g", id, mem.Points(id), nil)
		got, _ := history.HistoryOf("g", id, disk.Points(id), nil)
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
		got, _ := history.HistoryOf("g", id, st.Points(id), nil)
		want, _ := history.HistoryOf("g", id, mem.Points(id), nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("recent sensor %s lost points: %d samples, want %d", id, len(got.Samples), len(want.Samples))
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
