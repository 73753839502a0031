package export

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npz"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
)

// npzWant is what theta.npz of sensors must hold, by key: the IDs of each
// dimension's sensors and their θ per model, NaN rows for a missing model.
func npzWant(sensors []schema.Sensor) (ids map[string][]string, theta map[string][][]float64) {
	dims := map[int]bool{}
	for _, s := range sensors {
		if len(s.Models) > 0 {
			dims[len(s.Models[0].Theta)] = true
		}
	}
	suffix := func(n int) string {
		if len(dims) == 1 {
			return ""
		}
		return "_n" + itoa(n)
	}
	ids, theta = map[string][]string{}, map[string][][]float64{}
	models := map[int]map[string]bool{}
	for _, s := range sensors {
		if len(s.Models) == 0 {
			continue
		}
		n := len(s.Models[0].Theta)
		if models[n] == nil {
			models[n] = map[string]bool{}
		}
		for _, m := range s.Models {
			models[n][m.Name] = true
		}
	}
	for _, s := range sensors {
		if len(s.Models) == 0 {
			continue
		}
		n := len(s.Models[0].Theta)
		ids[SensorsKey+suffix(n)] = append(ids[SensorsKey+suffix(n)], s.Sensor)
		for name := range models[n] {
			row := make([]float64, n)
			for i := range row {
				row[i] = math.NaN()
			}
			for _, m := range s.Models {
				if m.Name == name {
					row = m.Theta
				}
			}
			key, _ := SafeName(name)
			theta[key+suffix(n)] = append(theta[key+suffix(n)], row)
		}
	}
	return ids, theta
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestNPZ checks theta.npz with npyio's reader and, when Debian's numpy is
// installed, with numpy.load(allow_pickle=False): keys, dtypes, shapes,
// IDs and every θ bit for bit, for one dimension and for several.
func TestNPZ(t *testing.T) {
	uniform := append(testSensors()[:1], testSensors()[2:]...)
	uniform[2].Models = uniform[2].Models[:1] // "dé" lacks mod2: a NaN row
	for name, sensors := range map[string][]schema.Sensor{"uniform": uniform, "mixed": testSensors(), "empty": nil} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if _, err := Write(dir, NPZ, Slice(sensors)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, NPZFile)
			wantIDs, wantTheta := npzWant(sensors)
			if len(sensors) == 0 {
				wantIDs[SensorsKey] = nil
			}
			r, err := npz.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if len(r.Keys()) != len(wantIDs)+len(wantTheta) {
				t.Errorf("keys %v, want %v and %v", r.Keys(), wantIDs, wantTheta)
			}
			for key, rows := range wantTheta {
				h := r.Header(key + ".npy")
				if h == nil {
					t.Fatalf("no %s in %v", key, r.Keys())
				}
				if want := []int{len(rows), len(rows[0])}; !reflect.DeepEqual(h.Descr.Shape, want) || strings.Trim(h.Descr.Type, "'") != "<f8" {
					t.Errorf("%s: %s %v, want <f8 %v", key, h.Descr.Type, h.Descr.Shape, want)
				}
				var got []float64
				if err := r.Read(key+".npy", &got); err != nil {
					t.Fatal(err)
				}
				var flat []float64
				for _, row := range rows {
					flat = append(flat, row...)
				}
				if err := sameBits(got, flat); err != nil {
					t.Errorf("%s: %v", key, err)
				}
			}
			numpyNPZ(t, path, wantIDs, wantTheta)
		})
	}
}

func sameBits(got, want []float64) error {
	if len(got) != len(want) {
		return &mismatch{"length", len(got), len(want)}
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			return &mismatch{"value " + itoa(i), got[i], want[i]}
		}
	}
	return nil
}

type mismatch struct {
	what      string
	got, want any
}

func (m *mismatch) Error() string {
	b, _ := json.Marshal([]any{m.what, "got", m.got, "want", m.want})
	return string(b)
}

// numpyNPZ loads path with numpy in one call and compares everything.
func numpyNPZ(t *testing.T, path string, wantIDs map[string][]string, wantTheta map[string][][]float64) {
	const python = "/usr/bin/python3" // Debian's, with python3-numpy
	if _, err := os.Stat(python); err != nil {
		testkit.Missing(t, python+" (numpy)")
	}
	script := `import json, numpy, sys
z = numpy.load(sys.argv[1], allow_pickle=False)
out = {}
for k in z.files:
    a = z[k]
    out[k] = [a.dtype.str, list(a.shape), [x.hex() for x in a.ravel().tolist()] if a.dtype.kind == 'f' else a.tolist()]
print(json.dumps(out))`
	raw, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(raw), "No module named 'numpy'") {
			testkit.Missing(t, "python3-numpy")
		}
		t.Fatalf("numpy: %v: %s", err, raw)
	}
	var got map[string][3]json.RawMessage
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if len(got) != len(wantIDs)+len(wantTheta) {
		t.Errorf("numpy keys %v", got)
	}
	for key, ids := range wantIDs {
		var dtype string
		var vals []string
		json.Unmarshal(got[key][0], &dtype)
		json.Unmarshal(got[key][2], &vals)
		if !strings.HasPrefix(dtype, "<U") || len(vals) != len(ids) || (len(ids) > 0 && !reflect.DeepEqual(vals, ids)) {
			t.Errorf("numpy %s: %s %q, want %q", key, dtype, vals, ids)
		}
	}
	for key, rows := range wantTheta {
		var dtype string
		var shape []int
		var hex []string
		json.Unmarshal(got[key][0], &dtype)
		json.Unmarshal(got[key][1], &shape)
		json.Unmarshal(got[key][2], &hex)
		var want []string
		for _, row := range rows {
			for _, v := range row {
				want = append(want, pyHexOf(v))
			}
		}
		if dtype != "<f8" || !reflect.DeepEqual(shape, []int{len(rows), len(rows[0])}) || !reflect.DeepEqual(hex, want) {
			t.Errorf("numpy %s: %s %v %v, want %v", key, dtype, shape, hex, want)
		}
	}
}

// pyHexOf is Python's float.hex of v.
func pyHexOf(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case v == 0 && math.Signbit(v):
		return "-0x0.0p+0"
	case v == 0:
		return "0x0.0p+0"
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	bits := math.Float64bits(v)
	exp, mant := int(bits>>52), bits&(1<<52-1)
	if exp == 0 { // subnormal: Python writes 0x0.<mant>p-1022
		return sign + "0x0." + hex13(mant) + "p-1022"
	}
	e := exp - 1023
	es := itoa(e)
	if e >= 0 {
		es = "+" + es
	}
	return sign + "0x1." + hex13(mant) + "p" + es
}

func hex13(m uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 13)
	for i := 12; i >= 0; i-- {
		b[i] = digits[m&15]
		m >>= 4
	}
	return string(b)
}
