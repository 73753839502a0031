package tablestore

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
)

// open builds a storage of dir with a flush interval long enough that only
// explicit flushes (MarkRecovered, iterators, Close, MaxPending) happen.
func open(t *testing.T, dir string, o StorageOptions) *buffered {
	t.Helper()
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Hour
	}
	st, err := StorageBuilderWith(dir, o)("table", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	return st.(*buffered)
}

func mustGet(t *testing.T, st storage.Storage, key string) string {
	t.Helper()
	v, err := st.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return "<nil>"
	}
	return string(v)
}

func TestStorageReadsItsBufferedWrites(t *testing.T) {
	st := open(t, t.TempDir(), StorageOptions{})
	defer st.Close()
	if off, err := st.GetOffset(-2); err != nil || off != -2 {
		t.Fatalf("offset of an empty storage: %d, %v; want the default -2", off, err)
	}
	_ = st.Set("a", []byte("1"))
	_ = st.Set("b", []byte("2"))
	_ = st.Set("a", []byte("3"))
	_ = st.Delete("b")
	_ = st.SetOffset(41)
	if got := mustGet(t, st, "a"); got != "3" {
		t.Errorf("a = %s, want 3", got)
	}
	if got := mustGet(t, st, "b"); got != "<nil>" {
		t.Errorf("deleted b = %s", got)
	}
	if ok, _ := st.Has("a"); !ok {
		t.Error("Has(a) is false")
	}
	if off, _ := st.GetOffset(-2); off != 41 {
		t.Errorf("offset %d, want 41", off)
	}
	// Nothing reached LevelDB yet: the writes are buffered.
	if v, _ := st.db.Get([]byte("a"), nil); v != nil {
		t.Errorf("a is in LevelDB before any flush")
	}
	if err := st.flush(); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, st, "a"); got != "3" {
		t.Errorf("after flush a = %s, want 3", got)
	}
	if v, _ := st.db.Get([]byte(OffsetKey), nil); string(v) != "41" {
		t.Errorf("stored offset %q, want 41", v)
	}
}

// TestStorageCrashKeepsAPrefix: a crash loses the writes since the last
// flush, never the other way round: the stored offset is never ahead of
// the values written before it, so goka's recovery from that offset
// replays everything that is missing.
func TestStorageCrashKeepsAPrefix(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, StorageOptions{})
	_ = st.Set("s1", []byte("v1"))
	_ = st.SetOffset(10)
	if err := st.MarkRecovered(); err != nil { // flushes
		t.Fatal(err)
	}
	if err := st.MarkRecovered(); err != nil { // a second call is harmless (a reconnecting view)
		t.Fatal(err)
	}
	_ = st.Set("s1", []byte("v2"))
	_ = st.Set("s2", []byte("w1"))
	_ = st.SetOffset(12)
	// Crash: LevelDB closes without the buffered writes.
	close(st.stop)
	<-st.done
	if err := st.db.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, dir, StorageOptions{})
	defer st.Close()
	if off, _ := st.GetOffset(-2); off != 10 {
		t.Errorf("offset after the crash %d, want 10 (the last flushed)", off)
	}
	if got := mustGet(t, st, "s1"); got != "v1" {
		t.Errorf("s1 = %s, want v1", got)
	}
	if got := mustGet(t, st, "s2"); got != "<nil>" {
		t.Errorf("s2 = %s, want none", got)
	}
}

// TestStorageCompatibleWithGoka: goka's own LevelDB storage and this one
// read each other's directories (values and the table offset).
func TestStorageCompatibleWithGoka(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, StorageOptions{})
	_ = st.Set("s1", []byte("ours"))
	_ = st.SetOffset(7)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := storage.DefaultBuilder(dir)("table", 3)
	if err != nil {
		t.Fatal(err)
	}
	_ = g.Open()
	if got := mustGet(t, g, "s1"); got != "ours" {
		t.Errorf("goka reads s1 = %s", got)
	}
	if off, _ := g.GetOffset(-2); off != 7 {
		t.Errorf("goka reads offset %d, want 7", off)
	}
	_ = g.MarkRecovered()
	_ = g.Set("s2", []byte("goka's"))
	_ = g.SetOffset(9)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, dir, StorageOptions{})
	defer st.Close()
	if got := mustGet(t, st, "s2"); got != "goka's" {
		t.Errorf("s2 = %s", got)
	}
	if off, _ := st.GetOffset(-2); off != 9 {
		t.Errorf("offset %d, want 9", off)
	}
}

func TestStorageIteratorSeesBufferedWritesWithoutOffset(t *testing.T) {
	st := open(t, t.TempDir(), StorageOptions{})
	defer st.Close()
	for i := range 5 {
		_ = st.Set(fmt.Sprintf("k%d", i), []byte{byte(i)})
	}
	_ = st.Set("other", []byte("x"))
	_ = st.SetOffset(3)
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Key()))
	}
	it.Release()
	if fmt.Sprint(keys) != "[k0 k1 k2 k3 k4 other]" {
		t.Errorf("keys %v", keys)
	}
	it, err = st.IteratorWithRange([]byte("k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		n++
	}
	it.Release()
	if n != 5 {
		t.Errorf("prefix k: %d keys, want 5", n)
	}
}

func TestStorageFlushesWhenMaxPendingIsReached(t *testing.T) {
	st := open(t, t.TempDir(), StorageOptions{MaxPending: 1000})
	defer st.Close()
	for i := range 20 {
		_ = st.Set(fmt.Sprintf("k%02d", i), make([]byte, 100))
	}
	if v, _ := st.db.Get([]byte("k05"), nil); v == nil {
		t.Error("2000 bytes written with MaxPending 1000, but nothing reached LevelDB")
	}
}

func TestStorageFlushesEveryInterval(t *testing.T) {
	st := open(t, t.TempDir(), StorageOptions{FlushInterval: 10 * time.Millisecond})
	defer st.Close()
	_ = st.Set("a", []byte("1"))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := st.db.Get([]byte("a"), nil); v != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("not flushed after 5s with a 10ms interval")
}

// TestStorageFlushesAtMaxPendingTotal: the write that brings every
// partition's buffered values to MaxPendingTotal flushes its own partition at
// once and makes the others flush in the background; below the total,
// nothing is flushed before the interval.
func TestStorageFlushesAtMaxPendingTotal(t *testing.T) {
	dir := t.TempDir()
	build := StorageBuilderWith(dir, StorageOptions{FlushInterval: time.Hour, MaxPending: 1 << 20, MaxPendingTotal: 3000})
	var parts []*buffered
	for p := range int32(3) {
		st, err := build("table", p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		parts = append(parts, st.(*buffered))
	}
	inDB := func(st *buffered, key string) bool {
		v, _ := st.db.Get([]byte(key), nil)
		return v != nil
	}
	// 2 × 1,000 bytes (keys included) on partitions 0 and 1: under the total.
	_ = parts[0].Set("a", make([]byte, 999))
	_ = parts[1].Set("b", make([]byte, 999))
	_ = parts[0].Set("a", make([]byte, 999)) // a rewrite counts once
	if inDB(parts[0], "a") || inDB(parts[1], "b") {
		t.Fatal("flushed below MaxPendingTotal")
	}
	if got := parts[0].total.bytes.Load(); got != 2000 {
		t.Fatalf("total %d bytes buffered, want 2000", got)
	}
	// 1,000 more on partition 2 reach the total.
	_ = parts[2].Set("c", make([]byte, 999))
	if !inDB(parts[2], "c") {
		t.Error("the write that reached MaxPendingTotal did not flush its partition")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !inDB(parts[0], "a") || !inDB(parts[1], "b") {
		if time.Now().After(deadline) {
			t.Fatal("the other partitions did not flush within 5s of MaxPendingTotal being reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := parts[0].total.bytes.Load(); got != 0 {
		t.Errorf("total %d bytes buffered after every partition flushed, want 0", got)
	}
	if mustGet(t, parts[0], "a") == "<nil>" || mustGet(t, parts[2], "c") == "<nil>" {
		t.Error("a flushed value does not read back")
	}
}

// TestStorageFlushesOnceTheOldestWriteIsOld: a write stays in memory for
// FlushInterval after it was buffered, whenever the flusher's ticks fall,
// and reaches LevelDB soon after; so does the first write after a flush.
func TestStorageFlushesOnceTheOldestWriteIsOld(t *testing.T) {
	const interval = 400 * time.Millisecond
	st := open(t, t.TempDir(), StorageOptions{FlushInterval: interval})
	defer st.Close()
	time.Sleep(interval * 7 / 8) // so that fixed ticks would fall right after the write
	waits := func(key string, offset int64) {
		t.Helper()
		written := time.Now()
		_ = st.Set(key, []byte("1"))
		_ = st.SetOffset(offset)
		time.Sleep(interval / 2)
		if v, _ := st.db.Get([]byte(key), nil); v != nil && time.Since(written) < interval {
			t.Fatalf("%s flushed %v after its write, FlushInterval %v", key, time.Since(written), interval)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, _ := st.db.Get([]byte(key), nil)
			off, _ := st.db.Get([]byte(OffsetKey), nil)
			if v != nil && string(off) == strconv.FormatInt(offset, 10) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not flushed 5s after its write, FlushInterval %v", key, interval)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waits("a", 7)
	waits("b", 8)
}
