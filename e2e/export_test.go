package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/sbinet/npyio"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/export"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// python is Debian's interpreter, which has python3-numpy and python3-kafka
// (the python3 on PATH may be another one without them).
const python = "/usr/bin/python3"

// requirePython skips (fails on CI) unless /usr/bin/python3 imports every
// module.
func requirePython(t *testing.T, modules ...string) {
	t.Helper()
	testkit.Require(t, python, "Debian's python3")
	for _, m := range modules {
		if out, err := exec.Command(python, "-c", "import "+m).CombinedOutput(); err != nil {
			testkit.Missing(t, fmt.Sprintf("python module %s for %s (%v: %s)", m, python, err, strings.TrimSpace(string(out))))
		}
	}
}

// oddIDs are sensor IDs that are not safe file names as they are.
// ("." and ".." are no sensor IDs: the processor dead-letters them.)
var oddIDs = []string{"a/b", "..x", ".x.", ".hidden", "x y", "ünï", "%41", `back\slash`, "CON"}

// TestExport checks that every export format equals the HTTP API to the
// last bit, for plain and odd sensor IDs, and that numpy loads the .npy files.
func TestExport(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	const plain, dim, count = 2, 4, 400
	n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: topology.DefaultInput, Partitions: 4,
		Sensors: plain, Dim: dim, Count: count, Format: codec.FormatJSON, Seed: 3})
	if err != nil || n != count {
		t.Fatalf("emit: %d of %d: %v", n, count, err)
	}
	// Odd IDs with dimension 3 (CSV pads their rows), and a key whose only
	// message is bad: it is dead-lettered and leaves no sensor behind.
	rng := rand.New(rand.NewPCG(9, 9))
	var kv []string
	const oddSamples = 30
	for k := 0; k < oddSamples; k++ {
		for _, id := range oddIDs {
			x := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
			kv = append(kv, id, string(codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: x, Y: x[0] - 2*x[2] + 0.01*rng.NormFloat64()}})))
		}
	}
	kv = append(kv, "only-bad", "garbage")
	emitRaw(t, kc, topology.DefaultInput, kv...)
	total := count + oddSamples*len(oddIDs)

	proc := startNamed(t, "process", "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	pURL := proc.HTTPURL(t)
	testkit.Eventually(t, 60*time.Second, func() error {
		fams, err := tryScrape(pURL)
		if err != nil {
			return err
		}
		if v, _ := value(fams, "streamrls_samples_applied_total"); v != float64(total) {
			return fmt.Errorf("applied %v of %d", v, total)
		}
		if v, _ := value(fams, "streamrls_samples_rejected_total", "reason", "decode"); v != 1 {
			return fmt.Errorf("rejected %v of 1", v)
		}
		return nil
	})
	const level = 0.9
	serve := startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0",
		"--interval-level", strconv.FormatFloat(level, 'g', -1, 64))
	sURL := serve.HTTPURL(t)

	// Everything the API serves, after the view has every sample.
	ids := append([]string{"1", "2"}, oddIDs...)
	sort.Strings(ids)
	api := map[string]*schema.Sensor{}
	testkit.Eventually(t, 30*time.Second, func() error {
		var sum uint64
		for _, id := range ids {
			s, code, err := sensorAPI(sURL, id)
			if err != nil || code != 200 {
				return fmt.Errorf("sensor %q: %d %v", id, code, err)
			}
			api[id] = s
			sum += s.Samples
		}
		if sum != uint64(total) {
			return fmt.Errorf("API has %d of %d samples", sum, total)
		}
		return nil
	})

	out := t.TempDir()
	for _, f := range []string{"npy", "npz", "json", "csv"} {
		runCLI(t, "export", "--brokers", b.Addr(), "--group", "rls", "--format", f, "--out", out)
	}

	// A group without a table fails at once, naming it.
	bad, err := exec.Command(binary, "export", "--brokers", b.Addr(), "--group", "nope", "--out", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "nope-table") {
		t.Errorf("export of an unknown group: %v: %s", err, bad)
	}

	t.Run("json", func(t *testing.T) {
		got := exportedJSON(t, out)
		if len(got) != len(ids) {
			t.Fatalf("%d sensors exported, want %d", len(got), len(ids))
		}
		for i, s := range got {
			if s.Sensor != ids[i] {
				t.Errorf("sensor %d is %q, want %q (byte order)", i, s.Sensor, ids[i])
			}
			if err := sameSensor(&s, api[s.Sensor]); err != nil {
				t.Errorf("sensor %q: %v", s.Sensor, err)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		f, err := os.Open(filepath.Join(out, export.CSVFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rows[0], export.CSVHeader(dim)) {
			t.Fatalf("header %v", rows[0])
		}
		want := 0
		for _, s := range api {
			want += len(s.Models)
		}
		if len(rows)-1 != want {
			t.Fatalf("%d rows, want %d (one per sensor and model)", len(rows)-1, want)
		}
		for _, r := range rows[1:] {
			s := api[r[0]]
			if s == nil {
				t.Fatalf("row for unknown sensor %q", r[0])
			}
			m := findModel(s, r[1])
			if m == nil {
				t.Fatalf("sensor %q: row for unknown model %q", r[0], r[1])
			}
			if r[4] != strconv.FormatUint(m.Samples, 10) {
				t.Errorf("sensor %q %s: samples %s, API %d", r[0], r[1], r[4], m.Samples)
			}
			if r[7] != strconv.FormatUint(m.Anomalies, 10) || r[8] != strconv.FormatUint(m.Drifts, 10) {
				t.Errorf("sensor %q %s: anomalies, drifts %s, %s; API %d, %d", r[0], r[1], r[7], r[8], m.Anomalies, m.Drifts)
			}
			got := []float64{parse(t, r[2]), parse(t, r[3]), parse(t, r[5])}
			want := []float64{m.Lambda, m.Delta, m.MSE}
			if m.Sigma2 != nil {
				got, want = append(got, parse(t, r[6])), append(want, *m.Sigma2)
			} else if r[6] != "" {
				t.Errorf("sensor %q %s: sigma2 %q, API null", r[0], r[1], r[6])
			}
			var theta []float64
			for j, c := range r[9:] {
				if j >= len(m.Theta) {
					if c != "" {
						t.Errorf("sensor %q: theta_%d = %q beyond its dimension", r[0], j+1, c)
					}
					continue
				}
				theta = append(theta, parse(t, c))
			}
			if err := sameBits(append(got, theta...), append(want, m.Theta...)); err != nil {
				t.Errorf("sensor %q %s: %v", r[0], r[1], err)
			}
		}
	})

	npyWant := map[string]map[string][]float64{}
	for id, s := range api {
		for _, m := range s.Models {
			if npyWant[id] == nil {
				npyWant[id] = map[string][]float64{}
			}
			npyWant[id][m.Name] = m.Theta
		}
	}

	t.Run("npy", func(t *testing.T) {
		// Read back with the Go library, by the documented path.
		files := 0
		for id, models := range npyWant {
			dir, err := export.SafeName(id)
			if err != nil {
				t.Fatal(err)
			}
			for name, theta := range models {
				f, err := os.Open(filepath.Join(out, dir, name+".npy"))
				if err != nil {
					t.Fatalf("sensor %q: %v", id, err)
				}
				var got []float64
				err = npyio.Read(f, &got)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				if err := sameBits(got, theta); err != nil {
					t.Errorf("sensor %q %s: %v", id, name, err)
				}
				files++
			}
		}
		entries, _ := os.ReadDir(out)
		dirs := 0
		for _, e := range entries {
			if e.IsDir() {
				dirs++
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("export made a hidden or relative directory %q", e.Name())
				}
			}
		}
		if dirs != len(npyWant) {
			t.Errorf("%d sensor directories, want %d (sensors with models)", dirs, len(npyWant))
		}
	})

	t.Run("numpy", func(t *testing.T) {
		requirePython(t, "numpy")
		cmd := exec.Command(python, filepath.Join("testdata", "load_npy.py"), out)
		raw, err := cmd.Output()
		if err != nil {
			t.Fatalf("load_npy.py: %v\n%s", err, stderrOf(err))
		}
		var got map[string]map[string][]string
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		if len(got) != len(npyWant) {
			t.Errorf("numpy found %d sensors, want %d: %v", len(got), len(npyWant), keys(got))
		}
		for id, models := range npyWant {
			if len(got[id]) != len(models) {
				t.Errorf("sensor %q: numpy found %d models, want %d", id, len(got[id]), len(models))
			}
			for name, theta := range models {
				var vals []float64
				for _, h := range got[id][name] {
					v, err := strconv.ParseFloat(h, 64)
					if err != nil {
						t.Fatal(err)
					}
					vals = append(vals, v)
				}
				if err := sameBits(vals, theta); err != nil {
					t.Errorf("numpy: sensor %q %s: %v", id, name, err)
				}
			}
		}
	})

	t.Run("predict", func(t *testing.T) {
		checkPredictInterval(t, sURL, filepath.Join(out, export.JSONFile), level, []string{"1", "2"}, []float64{0.5, -1, 2, 0.25})
	})

	t.Run("npz", func(t *testing.T) {
		requirePython(t, "numpy")
		raw, err := exec.Command(python, filepath.Join("testdata", "load_npz.py"), filepath.Join(out, export.NPZFile)).Output()
		if err != nil {
			t.Fatalf("load_npz.py: %v\n%s", err, stderrOf(err))
		}
		var got map[string][3]json.RawMessage
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		// Plain sensors have dimension 4, odd ones 3: one ID array and one
		// θ array per model for each dimension.
		rows, arrays := 0, 0
		for _, n := range []int{3, 4} {
			suffix := fmt.Sprintf("_n%d", n)
			var dtype string
			var ids []string
			json.Unmarshal(got[export.SensorsKey+suffix][0], &dtype)
			json.Unmarshal(got[export.SensorsKey+suffix][2], &ids)
			if !strings.HasPrefix(dtype, "<U") || !sort.StringsAreSorted(ids) {
				t.Errorf("%s: %s %q, want unicode IDs in byte order", export.SensorsKey+suffix, dtype, ids)
			}
			for _, name := range []string{"mod1", "mod2"} {
				key := name + suffix
				var shape []int
				var hex []string
				json.Unmarshal(got[key][0], &dtype)
				json.Unmarshal(got[key][1], &shape)
				json.Unmarshal(got[key][2], &hex)
				if dtype != "<f8" || !reflect.DeepEqual(shape, []int{len(ids), n}) {
					t.Fatalf("%s: %s %v, want <f8 [%d %d]", key, dtype, shape, len(ids), n)
				}
				arrays++
				for i, id := range ids {
					m := findModel(api[id], name)
					if m == nil {
						t.Fatalf("%s row %d: sensor %q has no %s in the API", key, i, id, name)
					}
					var vals []float64
					for _, h := range hex[i*n : (i+1)*n] {
						vals = append(vals, parse(t, h))
					}
					if err := sameBits(vals, m.Theta); err != nil {
						t.Errorf("%s row %d (sensor %q): %v", key, i, id, err)
					}
					rows++
				}
			}
		}
		if len(got) != 2+arrays || rows != 2*len(npyWant) {
			t.Errorf("theta.npz holds %d arrays (want %d) and %d rows (want %d): %v", len(got), 2+arrays, rows, 2*len(npyWant), keys(got))
		}
	})
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func findModel(s *schema.Sensor, name string) *schema.Model {
	for i := range s.Models {
		if s.Models[i].Name == name {
			return &s.Models[i]
		}
	}
	return nil
}

func sameBits(got, want []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			return fmt.Errorf("value %d is %v (%#x), API has %v (%#x)", i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
		}
	}
	return nil
}

// sameSensor compares two renderings of a sensor, floats bit for bit.
func sameSensor(got, want *schema.Sensor) error {
	if want == nil {
		return fmt.Errorf("not in the API")
	}
	g, w := *got, *want
	g.Models, w.Models = nil, nil
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("export %+v, API %+v", g, w)
	}
	if len(got.Models) != len(want.Models) {
		return fmt.Errorf("%d models, API %d", len(got.Models), len(want.Models))
	}
	for i := range want.Models {
		gm, wm := got.Models[i], want.Models[i]
		if gm.Name != wm.Name || gm.Samples != wm.Samples {
			return fmt.Errorf("model %d: %s/%d, API %s/%d", i, gm.Name, gm.Samples, wm.Name, wm.Samples)
		}
		if (gm.Sigma2 == nil) != (wm.Sigma2 == nil) || gm.Anomalies != wm.Anomalies || gm.Drifts != wm.Drifts {
			return fmt.Errorf("model %s: sigma2 %v anomalies %d drifts %d, API %v %d %d", gm.Name, gm.Sigma2, gm.Anomalies, gm.Drifts, wm.Sigma2, wm.Anomalies, wm.Drifts)
		}
		if gm.Sigma2 != nil {
			if err := sameBits([]float64{*gm.Sigma2}, []float64{*wm.Sigma2}); err != nil {
				return fmt.Errorf("model %s: sigma2: %v", gm.Name, err)
			}
		}
		if n := len(gm.Theta); len(gm.P) != n*n {
			return fmt.Errorf("model %s: P has %d values, want %d", gm.Name, len(gm.P), n*n)
		}
		trace := 0.0
		for i := range gm.Theta {
			trace += gm.P[i*len(gm.Theta)+i]
		}
		if math.Abs(trace-gm.PTrace) > 1e-12*math.Abs(gm.PTrace) {
			return fmt.Errorf("model %s: trace of the exported P %v, p_trace %v", gm.Name, trace, gm.PTrace)
		}
		if err := sameBits(append([]float64{gm.Lambda, gm.Delta, gm.MSE, gm.RecentMSE, gm.PTrace}, gm.Theta...),
			append([]float64{wm.Lambda, wm.Delta, wm.MSE, wm.RecentMSE, wm.PTrace}, wm.Theta...)); err != nil {
			return fmt.Errorf("model %s: %v", gm.Name, err)
		}
	}
	return nil
}

// checkPredictInterval asks predict of each sensor for x and compares y, sd,
// lo and hi with numpy's from the exported θ, P and σ̂², to 1e-9 relative.
func checkPredictInterval(t *testing.T, base, sensorsJSON string, level float64, ids []string, x []float64) {
	t.Helper()
	requirePython(t, "numpy")
	xs, _ := json.Marshal(x)
	raw, err := exec.Command(python, filepath.Join("testdata", "predict_interval.py"), sensorsJSON,
		strconv.FormatFloat(level, 'g', -1, 64), string(xs)).Output()
	if err != nil {
		t.Fatalf("predict_interval.py: %v\n%s", err, stderrOf(err))
	}
	var want map[string]map[string][4]*float64
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	for _, id := range ids {
		var got schema.Predictions
		code, err := postJSON(base+"/v1/sensors/"+escapeSegment(id)+"/predict", schema.PredictRequest{X: x}, &got)
		if err != nil || code != 200 {
			t.Fatalf("predict %s: %d %v", id, code, err)
		}
		if got.Level != level || len(got.Predictions) != len(want[id]) || len(got.Predictions) == 0 {
			t.Fatalf("predict %s: %+v; numpy has %d models", id, got, len(want[id]))
		}
		for _, p := range got.Predictions {
			w, ok := want[id][p.Model]
			if !ok || w[1] == nil {
				t.Fatalf("sensor %s model %s: numpy has %v (no σ̂²?)", id, p.Model, w)
			}
			for i, g := range []*float64{&p.Y, p.SD, p.Lo, p.Hi} {
				if g == nil || math.Abs(*g-*w[i]) > 1e-9*math.Abs(*w[i]) {
					t.Errorf("sensor %s model %s: value %d (y, sd, lo, hi) is %v, numpy %v", id, p.Model, i, g, *w[i])
				}
			}
		}
	}
}
