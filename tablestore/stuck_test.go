package tablestore

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStuckWriteFailsThePartition: a LevelDB write that does not return
// (here its write lock is taken by a transaction left open, as goleveldb
// leaves one after a large write fails on a full disk) fails the flush
// within the timeout, once through OnFail; every later write fails at once
// without touching LevelDB, Close returns, and the partition opens again
// with what was stored before.
func TestStuckWriteFailsThePartition(t *testing.T) {
	dir := t.TempDir()
	var fails atomic.Int32
	var failErr atomic.Value
	o := StorageOptions{Timeout: 200 * time.Millisecond, Log: logTo(new(bytes.Buffer)), OnFail: func(err error) {
		fails.Add(1)
		failErr.Store(err)
	}}
	st := open(t, dir, o)
	_ = st.Set("kept", []byte("1"))
	_ = st.SetOffset(7)
	if err := st.flush(); err != nil {
		t.Fatal(err)
	}
	tr, err := st.db.OpenTransaction()
	if err != nil {
		t.Fatal(err)
	}
	_ = tr // left open: every write waits for it

	_ = st.Set("lost", []byte("2"))
	_ = st.SetOffset(8)
	start := time.Now()
	err = st.flush()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("flush of a stuck LevelDB: %v; want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("flush took %v with a timeout of %v", d, o.Timeout)
	}
	if !strings.Contains(err.Error(), "partition 3") {
		t.Errorf("error %q does not name the partition", err)
	}
	if err := st.Set("later", []byte("3")); !errors.Is(err, ErrTimeout) {
		t.Errorf("write after the failure: %v; want the failure", err)
	}
	start = time.Now()
	if err := st.flush(); !errors.Is(err, ErrTimeout) {
		t.Errorf("second flush: %v; want the failure", err)
	}
	if d := time.Since(start); d > o.Timeout/2 {
		t.Errorf("second flush waited %v: a failed partition must not write again", d)
	}
	if got := mustGet(t, st, "lost"); got != "2" {
		t.Errorf("a value that was not written is not readable: %s", got)
	}
	if n := fails.Load(); n != 1 {
		t.Errorf("OnFail called %d times, want once", n)
	}
	if e, _ := failErr.Load().(error); !errors.Is(e, ErrTimeout) {
		t.Errorf("OnFail got %v", e)
	}
	done := make(chan error, 1)
	go func() { done <- st.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("Close of a failed partition: %v; want the failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close of a stuck partition does not return")
	}

	// Closed (the open transaction was discarded with it), the copy opens
	// again as it was before the failed write.
	st = open(t, dir, StorageOptions{})
	defer st.Close()
	if off, err := st.GetOffset(-2); err != nil || off != 7 {
		t.Errorf("offset after reopening: %d, %v; want 7", off, err)
	}
	if got := mustGet(t, st, "kept"); got != "1" {
		t.Errorf("kept = %s, want 1", got)
	}
	if got := mustGet(t, st, "lost"); got != "<nil>" {
		t.Errorf("lost = %s: a write that failed reached LevelDB", got)
	}
	if aside := glob(t, dir, "*.corrupt-*"); len(aside) != 0 {
		t.Errorf("a copy closed in time was moved aside: %v", aside)
	}
}

// TestAbandonedCopyIsMovedAside: a copy whose close did not finish may
// still hold LevelDB's lock; the next open moves it aside and opens a
// fresh one, which goka rebuilds from the changelog.
func TestAbandonedCopyIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	fp := filled(t, dir)
	// A copy still open stands for the one whose close did not finish.
	stuck := open(t, dir, StorageOptions{})
	defer stuck.Close()
	stuck.where.abandon(errors.New("close: " + ErrTimeout.Error()))

	var logs bytes.Buffer
	st, err := StorageBuilderWith(dir, StorageOptions{Log: logTo(&logs)})("table", 3)
	if err != nil {
		t.Fatalf("open after an abandoned close: %v", err)
	}
	defer st.Close()
	if off, err := st.GetOffset(-2); err != nil || off != -2 {
		t.Errorf("offset of the rebuilt copy: %d, %v; want the default -2", off, err)
	}
	if aside := glob(t, dir, "*.corrupt-*"); len(aside) != 1 {
		t.Errorf("moved aside: %v; want the abandoned copy", aside)
	}
	if !strings.Contains(logs.String(), abandonedMsg) || !strings.Contains(logs.String(), fp) {
		t.Errorf("log does not say the copy %s was abandoned: %s", fp, logs.String())
	}
	// Once only: the next open keeps the fresh copy.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := open(t, dir, StorageOptions{})
	defer st2.Close()
	if aside := glob(t, dir, "*.corrupt-*"); len(aside) != 1 {
		t.Errorf("moved aside again: %v", aside)
	}
}
