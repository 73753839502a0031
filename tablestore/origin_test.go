package tablestore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// originIs is an OriginFunc answering o for every partition.
func originIs(o Origin) OriginFunc {
	return func(string, int32) (Origin, error) { return o, nil }
}

// TestCopyOfTheTopicIsKept: a copy whose offset is before the partition's
// end and whose recorded IDs match is opened as it is, and records its
// origin; one recorded before origins were (none) is checked by offset.
func TestCopyOfTheTopicIsKept(t *testing.T) {
	dir := t.TempDir()
	fp := filled(t, dir) // offset 99
	here := Origin{Cluster: "c1", TopicID: "t1", End: 100}
	for i := range 2 {
		var logs bytes.Buffer
		st, err := StorageBuilderWith(dir, StorageOptions{Log: logTo(&logs), Origin: originIs(here)})("table", 3)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := st.Get("sensor-001"); v == nil {
			t.Errorf("open %d: the copy lost sensor-001", i)
		}
		if off, _ := st.GetOffset(-2); off != 99 {
			t.Errorf("open %d: offset %d, want 99", i, off)
		}
		st.Close()
		if logs.Len() > 0 || len(glob(t, dir, "*.corrupt-*")) > 0 {
			t.Errorf("open %d: moved aside: %s", i, logs.String())
		}
		b, err := os.ReadFile(filepath.Join(fp, originFile))
		if err != nil || !strings.Contains(string(b), `"c1"`) || !strings.Contains(string(b), `"t1"`) {
			t.Errorf("open %d: recorded origin %q, %v", i, b, err)
		}
	}
	// A broker that reports no topic ID keeps the recorded one.
	st, err := StorageBuilderWith(dir, StorageOptions{Origin: originIs(Origin{Cluster: "c1", End: 100})})("table", 3)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if b, _ := os.ReadFile(filepath.Join(fp, originFile)); !strings.Contains(string(b), `"t1"`) {
		t.Errorf("recorded origin %q lost the topic ID", b)
	}
}

// TestForeignCopyIsMovedAside: a copy recorded with another cluster or
// topic ID, or holding records at or past the partition's end, is moved
// aside with one log line naming the partition, what was recorded and what
// was found, and a fresh copy records the broker's origin.
func TestForeignCopyIsMovedAside(t *testing.T) {
	for _, tc := range []struct {
		name  string
		found Origin
		says  []string
	}{
		{"other cluster", Origin{Cluster: "c2", TopicID: "t1", End: 1000}, []string{`cluster \"c1\"`, `cluster \"c2\"`}},
		{"other topic ID", Origin{Cluster: "c1", TopicID: "t2", End: 1000}, []string{"topic ID t1", "topic ID t2"}},
		{"past the end", Origin{Cluster: "c1", TopicID: "t1", End: 40}, []string{"offset 99", "offset 40"}},
		{"at the end", Origin{Cluster: "c1", TopicID: "t1", End: 99}, []string{"offset 99", "ends before offset 99"}},
		{"empty topic", Origin{End: 0}, []string{"offset 99", "offset 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fp := filled(t, dir)
			st, err := StorageBuilderWith(dir, StorageOptions{Origin: originIs(Origin{Cluster: "c1", TopicID: "t1", End: 100})})("table", 3)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()

			var logs bytes.Buffer
			st, err = StorageBuilderWith(dir, StorageOptions{Log: logTo(&logs), Origin: originIs(tc.found)})("table", 3)
			if err != nil {
				t.Fatalf("foreign copy not replaced: %v", err)
			}
			defer st.Close()
			checkRebuilt(t, st, fp, logs.String(), "", nil)
			if n := strings.Count(logs.String(), "\n"); n != 1 {
				t.Errorf("%d log lines, want 1:\n%s", n, logs.String())
			}
			for _, want := range append(tc.says, "does not belong", "partition 3") {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
			b, err := os.ReadFile(filepath.Join(fp, originFile))
			if tc.found.TopicID != "" && (err != nil || !strings.Contains(string(b), tc.found.TopicID)) {
				t.Errorf("fresh copy's origin %q, %v; want %s recorded", b, err, tc.found.TopicID)
			}
		})
	}
}

// TestOriginUnknownFailsTheOpen: when the broker cannot be asked, the copy
// is neither served unchecked nor moved aside.
func TestOriginUnknownFailsTheOpen(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir)
	down := func(string, int32) (Origin, error) { return Origin{}, errors.New("broker down") }
	if _, err := StorageBuilderWith(dir, StorageOptions{Origin: down})("table", 3); err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Errorf("open without an origin: %v", err)
	}
	if aside := glob(t, dir, "*.corrupt-*"); len(aside) > 0 {
		t.Errorf("moved aside: %v", aside)
	}
	st := open(t, dir, StorageOptions{})
	defer st.Close()
	if v, _ := st.Get("sensor-001"); v == nil {
		t.Errorf("the copy lost sensor-001")
	}
}
