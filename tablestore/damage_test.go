package tablestore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// filled writes keys and an offset into partition 3 of table under dir,
// with the values in LevelDB tables (.ldb), not only in the journal, and
// closes it. It returns the partition's directory.
func filled(t *testing.T, dir string) string {
	t.Helper()
	st := open(t, dir, StorageOptions{})
	for i := range 100 {
		_ = st.Set(fmt.Sprintf("sensor-%03d", i), bytes.Repeat([]byte{byte(i)}, 1000))
	}
	_ = st.SetOffset(99)
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := st.db.CompactRange(util.Range{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	fp := filepath.Join(dir, "table.3")
	if len(glob(t, fp, "*.ldb")) == 0 {
		t.Fatalf("no table file in %s", fp)
	}
	return fp
}

func glob(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// logTo is a logger writing text lines to buf.
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

// checkRebuilt checks that the partition under dir is empty (goka rebuilds
// it from the oldest offset), that the damaged directory fp was moved aside
// whole (its file want is there, with the same content) and that the log
// names both paths and the partition.
func checkRebuilt(t *testing.T, st storage.Storage, fp string, logs string, keep string, keepContent []byte) {
	t.Helper()
	if off, err := st.GetOffset(-2); err != nil || off != -2 {
		t.Errorf("offset of the rebuilt copy: %d, %v; want the default -2 (rebuild from the oldest offset)", off, err)
	}
	if v, err := st.Get("sensor-001"); err != nil || v != nil {
		t.Errorf("rebuilt copy holds sensor-001 = %d bytes, err %v; want none", len(v), err)
	}
	aside := glob(t, filepath.Dir(fp), filepath.Base(fp)+".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("moved aside: %v; want one %s.corrupt-TIME", aside, fp)
	}
	if ts := strings.TrimPrefix(aside[0], fp+".corrupt-"); len(ts) != len("20060102T150405Z") {
		t.Errorf("moved aside to %s: want a UTC timestamp suffix", aside[0])
	} else if _, err := time.Parse("20060102T150405Z", ts); err != nil {
		t.Errorf("moved aside to %s: %v", aside[0], err)
	}
	if ok, err := hasData(aside[0]); !ok {
		t.Errorf("moved-aside %s holds no LevelDB data files (%v)", aside[0], err)
	}
	if keep != "" {
		got, err := os.ReadFile(filepath.Join(aside[0], keep))
		if err != nil || !bytes.Equal(got, keepContent) {
			t.Errorf("damaged file %s not kept as it was in %s: %v", keep, aside[0], err)
		}
	}
	for _, want := range []string{"level=ERROR", "path=" + fp, "moved_to=" + aside[0], "partition=3", "topic=table"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if _, err := os.Stat(fp + damagedSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("damage mark left behind: %v", err)
	}
}

// TestDamagedCopyIsMovedAsideWhenOpened: a partition whose LevelDB cannot
// be opened is moved aside and a fresh one is opened in its place.
func TestDamagedCopyIsMovedAsideWhenOpened(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, fp string) (kept string) // the damaged file to find moved aside
	}{
		{"garbage manifest", func(t *testing.T, fp string) string {
			m := glob(t, fp, "MANIFEST-*")
			if len(m) != 1 {
				t.Fatalf("manifests %v", m)
			}
			if err := os.WriteFile(m[0], bytes.Repeat([]byte("garbage!"), 100), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(m[0])
		}},
		{"truncated manifest", func(t *testing.T, fp string) string {
			m := glob(t, fp, "MANIFEST-*")
			if err := os.Truncate(m[0], 10); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(m[0])
		}},
		{"garbage CURRENT", func(t *testing.T, fp string) string {
			if err := os.WriteFile(filepath.Join(fp, "CURRENT"), []byte("no such thing"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "CURRENT"
		}},
		{"CURRENT deleted", func(t *testing.T, fp string) string {
			// goleveldb would take the directory for a new database and
			// delete its files.
			if err := os.Remove(filepath.Join(fp, "CURRENT")); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(glob(t, fp, "*.ldb")[0])
		}},
		{"manifest deleted", func(t *testing.T, fp string) string {
			for _, m := range glob(t, fp, "MANIFEST-*") {
				if err := os.Remove(m); err != nil {
					t.Fatal(err)
				}
			}
			return filepath.Base(glob(t, fp, "*.ldb")[0])
		}},
		{"table file deleted", func(t *testing.T, fp string) string {
			for _, f := range glob(t, fp, "*.ldb") {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
			// goleveldb writes a new manifest and journal before it finds
			// the tables missing: no file stays as it was.
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fp := filled(t, dir)
			kept := tc.damage(t, fp)
			var keptContent []byte
			if kept != "" {
				var err error
				if keptContent, err = os.ReadFile(filepath.Join(fp, kept)); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			st, err := StorageBuilderWith(dir, StorageOptions{Log: logTo(&logs)})("table", 3)
			if err != nil {
				t.Fatalf("damaged copy not replaced: %v", err)
			}
			defer st.Close()
			checkRebuilt(t, st, fp, logs.String(), kept, keptContent)
			// The fresh copy works and persists.
			_ = st.Set("k", []byte("v"))
			_ = st.SetOffset(5)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st2 := open(t, dir, StorageOptions{})
			defer st2.Close()
			if off, _ := st2.GetOffset(-2); off != 5 {
				t.Errorf("fresh copy's offset after reopening: %d, want 5", off)
			}
		})
	}
}

// TestDamagedTableFoundByARead: a table file that is corrupted is only
// found by a read. The read fails with an error naming the partition, and
// the next open (goka's, after it stopped on the error) moves the copy
// aside.
func TestDamagedTableFoundByARead(t *testing.T) {
	dir := t.TempDir()
	fp := filled(t, dir)
	tables := glob(t, fp, "*.ldb")
	for _, f := range tables {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Flip bytes inside the data blocks; the size and footer stay valid.
		for i := 100; i < len(b)/2; i += 97 {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, _ := os.ReadFile(tables[0])
	var logs bytes.Buffer
	b := StorageBuilderWith(dir, StorageOptions{Log: logTo(&logs), FlushInterval: time.Hour})
	st, err := b("table", 3)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var readErr error
	for i := range 100 {
		if _, readErr = st.Get(fmt.Sprintf("sensor-%03d", i)); readErr != nil {
			break
		}
	}
	if readErr == nil {
		t.Fatal("reads of corrupted tables succeeded")
	}
	for _, want := range []string{fp, "partition 3", "damaged"} {
		if !strings.Contains(readErr.Error(), want) {
			t.Errorf("read error %q does not say %q", readErr, want)
		}
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "path="+fp) {
		t.Errorf("damage not logged with its path:\n%s", logs.String())
	}
	_ = st.Close()
	logs.Reset()
	st, err = b("table", 3)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	checkRebuilt(t, st, fp, logs.String(), filepath.Base(tables[0]), kept)
}

// TestCopyInUseIsNotMovedAside: a failure to open that is no damage (here
// the copy is open elsewhere) fails, naming the partition, and leaves the
// copy alone.
func TestCopyInUseIsNotMovedAside(t *testing.T) {
	dir := t.TempDir()
	fp := filled(t, dir)
	st := open(t, dir, StorageOptions{})
	defer st.Close()
	_, err := StorageBuilderWith(dir, StorageOptions{Log: logTo(new(bytes.Buffer))})("table", 3)
	if err == nil {
		t.Fatal("opened a copy that is open already")
	}
	if !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), "partition 3") {
		t.Errorf("error %q does not name %s and partition 3", err, fp)
	}
	if aside := glob(t, dir, "*.corrupt-*"); len(aside) != 0 {
		t.Errorf("a copy in use was moved aside: %v", aside)
	}
	if v, err := st.Get("sensor-001"); err != nil || len(v) != 1000 {
		t.Errorf("copy in use lost sensor-001: %d bytes, %v", len(v), err)
	}
}
