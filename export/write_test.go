package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/streamrls/streamrls/schema"
)

// testSensors are sensors of dimensions 3 and 2, one without models, IDs
// and a model name that CSV must quote.
func testSensors() []schema.Sensor {
	m := func(name string, theta ...float64) schema.Model {
		return schema.Model{Name: name, Lambda: 0.99, Delta: 1, Samples: 7, MSE: 0.25, Theta: theta}
	}
	return []schema.Sensor{
		{Sensor: "a", Dim: 3, Samples: 7, Models: []schema.Model{m("mod1", 1, 2, 3), m("mod2", -0.5, math.SmallestNonzeroFloat64, 1e300)}},
		{Sensor: "b,\"q\"", Dim: 2, Samples: 7, Models: []schema.Model{m("mod1", 4, 5), m("m\"x", 6, 7)}},
		{Sensor: "c", Models: []schema.Model{}},
		{Sensor: "dé", Dim: 3, Samples: 7, Models: []schema.Model{m("mod1", 8, 9, 10)}},
	}
}

// oldJSON and oldCSV are the bytes export wrote when it held every sensor
// in memory: the streaming writers must write the same.
func oldJSON(t *testing.T, sensors []schema.Sensor) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", " ")
	if sensors == nil {
		sensors = []schema.Sensor{}
	}
	if err := enc.Encode(sensors); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func oldCSV(t *testing.T, sensors []schema.Sensor) []byte {
	dim := 0
	for _, s := range sensors {
		for _, m := range s.Models {
			dim = max(dim, len(m.Theta))
		}
	}
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write(CSVHeader(dim))
	for _, s := range sensors {
		for _, m := range s.Models {
			row := csvRow(nil, s.Sensor, m)
			for i := range dim {
				c := ""
				if i < len(m.Theta) {
					c = ff(m.Theta[i])
				}
				row = append(row, c)
			}
			cw.Write(row)
		}
	}
	cw.Flush()
	if cw.Error() != nil {
		t.Fatal(cw.Error())
	}
	return b.Bytes()
}

func TestWriteSameBytes(t *testing.T) {
	for _, sensors := range [][]schema.Sensor{testSensors(), testSensors()[:1], testSensors()[2:3], nil} {
		dir := filepath.Join(t.TempDir(), "out")
		for _, f := range []Format{JSON, CSV} {
			res, err := Write(dir, f, Slice(sensors))
			if err != nil || res.Sensors != len(sensors) || res.Files != 1 {
				t.Fatalf("%s: %+v %v", f, res, err)
			}
		}
		for file, want := range map[string][]byte{JSONFile: oldJSON(t, sensors), CSVFile: oldCSV(t, sensors)} {
			got, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%d sensors, %s:\n%s\nwant\n%s", len(sensors), file, got, want)
			}
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("%d files in the export, want 2 (no scratch files left)", len(entries))
		}
	}
}

// failing streams sensors, then fails.
func failing(sensors []schema.Sensor, err error) Sensors {
	return func(yield func(schema.Sensor, error) bool) {
		for s := range Slice(sensors) {
			if !yield(s, nil) {
				return
			}
		}
		yield(schema.Sensor{}, err)
	}
}

// An export that fails midway leaves the output directory as it was: not
// created when it did not exist, the old files unchanged when it did, and
// no temporary directory next to it.
func TestWriteFailsClean(t *testing.T) {
	boom := errors.New("boom")
	for _, f := range []Format{NPY, NPZ, JSON, CSV} {
		parent := t.TempDir()
		out := filepath.Join(parent, "out")
		if _, err := Write(out, f, failing(testSensors(), boom)); !errors.Is(err, boom) {
			t.Fatalf("%s: %v, want boom", f, err)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("%s: a failed export into a new directory left %v", f, entries)
		}

		// Over an earlier export, and failing inside the writer (a name
		// that cannot be a file name) rather than in the stream.
		if _, err := Write(out, f, Slice(testSensors())); err != nil {
			t.Fatal(err)
		}
		before := tree(t, out)
		bad := append(testSensors()[:1:1], schema.Sensor{Sensor: string(make([]byte, 300)),
			Models: []schema.Model{{Name: "sensors", Theta: []float64{1, 2, 3}}}})
		var err error
		if f == JSON || f == CSV {
			_, err = Write(out, f, failing(testSensors()[:2], boom))
		} else {
			_, err = Write(out, f, Slice(bad))
		}
		if err == nil {
			t.Fatalf("%s: no error", f)
		}
		if after := tree(t, out); !equalTrees(before, after) {
			t.Errorf("%s: a failed export changed the earlier one", f)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Errorf("%s: left %v next to the output", f, entries)
		}
	}
}

// tree reads every file under dir.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalTrees(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
