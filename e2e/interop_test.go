package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
)

// notebookAnswer is what testdata/notebook_producer.py prints.
type notebookAnswer struct {
	Sensors map[string]struct {
		Samples uint64 `json:"samples"`
		Models  map[string]struct {
			Theta []float64 `json:"theta"`
			MSE   float64   `json:"mse"`
		} `json:"models"`
	} `json:"sensors"`
	X       []float64                     `json:"x"`
	Predict map[string]map[string]float64 `json:"predict"`
}

// TestInteropKafkaPython is the original notebook's producer side with
// kafka-python: topic RLSTrain with 4 partitions made by kafka-python's admin
// client, values str([i, y, x1..xn]) keyed "1" and "24". A real `streamrls
// process --topic RLSTrain` and `streamrls serve` must serve, per sensor,
// every sample, and models equal to an independent numpy computation of the
// textbook equations.
func TestInteropKafkaPython(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	requirePython(t, "numpy", "kafka")
	b, _ := testkit.Broker(t)
	const samples, dim, partitions = 1000, 10, 4

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "notebook_producer.py"),
		"--bootstrap", b.Addr(), "--topic", "RLSTrain", "--partitions", strconv.Itoa(partitions),
		"--samples", strconv.Itoa(samples), "--dim", strconv.Itoa(dim), "--seed", "42")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("notebook_producer.py: %v\n%s", err, stderrOf(err))
	}
	var want notebookAnswer
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%v: %.300s", err, raw)
	}
	if len(want.Sensors) != 2 {
		t.Fatalf("the script answered for %d sensors", len(want.Sensors))
	}

	proc := startNamed(t, "process", "process", "--brokers", b.Addr(), "--topic", "RLSTrain",
		"--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	pURL := proc.HTTPURL(t)
	testkit.Eventually(t, 60*time.Second, func() error {
		fams, err := tryScrape(pURL)
		if err != nil {
			return err
		}
		if v, _ := value(fams, "streamrls_samples_applied_total"); v != 2*samples {
			return fmt.Errorf("applied %v of %d", v, 2*samples)
		}
		// The topic kafka-python made is used as it is: 4 partitions.
		if n := len(series(fams, "streamrls_consumer_lag")); n != partitions {
			return fmt.Errorf("%d input partitions, want %d", n, partitions)
		}
		return nil
	})
	serve := startNamed(t, "serve", "serve", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
	sURL := serve.HTTPURL(t)

	got := map[string]*schema.Sensor{}
	testkit.Eventually(t, 30*time.Second, func() error {
		for id := range want.Sensors {
			s, code, err := sensorAPI(sURL, id)
			if err != nil || code != 200 {
				return fmt.Errorf("sensor %s: %d %v", id, code, err)
			}
			if s.Samples != samples {
				return fmt.Errorf("sensor %s: %d of %d samples", id, s.Samples, samples)
			}
			got[id] = s
		}
		return nil
	})
	for id, w := range want.Sensors {
		s := got[id]
		if s.Samples != w.Samples || s.Rejected != 0 || s.Dim != dim {
			t.Errorf("sensor %s: samples %d rejected %d dim %d, want %d, 0, %d", id, s.Samples, s.Rejected, s.Dim, w.Samples, dim)
		}
		if len(s.Models) != len(w.Models) {
			t.Fatalf("sensor %s: %d models, want %d", id, len(s.Models), len(w.Models))
		}
		for _, m := range s.Models {
			wm, ok := w.Models[m.Name]
			if !ok {
				t.Fatalf("sensor %s: unexpected model %s", id, m.Name)
			}
			if len(m.Theta) != len(wm.Theta) {
				t.Fatalf("sensor %s %s: %d coefficients, numpy %d", id, m.Name, len(m.Theta), len(wm.Theta))
			}
			if e := testkit.RelErr(m.Theta, wm.Theta); e > 1e-8 {
				t.Errorf("sensor %s %s: θ off numpy by %.3g relative\n got %v\nwant %v", id, m.Name, e, m.Theta, wm.Theta)
			}
			if e := testkit.RelErr([]float64{m.MSE}, []float64{wm.MSE}); e > 1e-8 {
				t.Errorf("sensor %s %s: mse %v, numpy %v (%.3g relative)", id, m.Name, m.MSE, wm.MSE, e)
			}
			if m.Samples != w.Samples {
				t.Errorf("sensor %s %s: %d samples, want %d", id, m.Name, m.Samples, w.Samples)
			}
			t.Logf("sensor %s %s: θ within %.2g, mse %.6g within %.2g of numpy", id, m.Name,
				testkit.RelErr(m.Theta, wm.Theta), m.MSE, testkit.RelErr([]float64{m.MSE}, []float64{wm.MSE}))
		}

		var pred schema.Predictions
		if code, err := postJSON(sURL+"/v1/sensors/"+id+"/predict", schema.PredictRequest{X: want.X}, &pred); err != nil || code != 200 {
			t.Fatalf("predict %s: %d %v", id, code, err)
		}
		if len(pred.Predictions) != len(s.Models) {
			t.Fatalf("predict %s: %d predictions", id, len(pred.Predictions))
		}
		for i, p := range pred.Predictions {
			m := s.Models[i]
			dot := 0.0
			for j := range want.X {
				dot += want.X[j] * m.Theta[j]
			}
			if p.Model != m.Name || math.Abs(p.Y-dot) > 1e-12*math.Max(1, math.Abs(dot)) {
				t.Errorf("predict %s: %s = %v, xᵀθ of the served θ = %v", id, p.Model, p.Y, dot)
			}
			if e := testkit.RelErr([]float64{p.Y}, []float64{want.Predict[id][p.Model]}); e > 1e-8 {
				t.Errorf("predict %s %s: %v, numpy %v", id, p.Model, p.Y, want.Predict[id][p.Model])
			}
		}
	}
}

// kcat runs kcat and returns its output.
func kcat(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kcat", args...).Output()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderrOf(err))
	}
	return string(out)
}

// TestInteropKcat reads streamrls's topics with kcat: the group table (keys
// are the sensor IDs, each record carries the partition pin header and sits
// in its sensor's input partition) and the dead-letter topic (the original
// key and value, with headers that point back at the input message).
func TestInteropKcat(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	testkit.Require(t, "kcat", "Debian's kcat")
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, time.Minute)
	const sensors, count = 2, 100
	n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: topology.DefaultInput, Partitions: 4,
		Sensors: sensors, Dim: 3, Count: count, Format: codec.FormatText, Seed: 1})
	if err != nil || n != count {
		t.Fatalf("emit: %d of %d: %v", n, count, err)
	}
	emitRaw(t, kc, topology.DefaultInput, "1", "oops")

	proc := startNamed(t, "process", "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0",
		"--snapshot-every", "10")
	pURL := proc.HTTPURL(t)
	testkit.Eventually(t, 60*time.Second, func() error {
		fams, err := tryScrape(pURL)
		if err != nil {
			return err
		}
		if v, _ := value(fams, "streamrls_samples_applied_total"); v != count {
			return fmt.Errorf("applied %v of %d", v, count)
		}
		if v, _ := value(fams, "streamrls_samples_rejected_total", "reason", "decode"); v != 1 {
			return fmt.Errorf("rejected %v of 1", v)
		}
		return nil
	})
	names := topology.Names{}.WithDefaults()

	// The dead-letter topic: key, value and headers of the bad message.
	var dlq string
	testkit.Eventually(t, 20*time.Second, func() error {
		dlq = kcat(t, "-b", b.Addr(), "-C", "-t", names.DeadLetter, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\t%h\n")
		if strings.Count(dlq, "\n") != 1 {
			return fmt.Errorf("dead letters: %q", dlq)
		}
		return nil
	})
	f := strings.SplitN(strings.TrimSuffix(dlq, "\n"), "\t", 3)
	if len(f) != 3 || f[0] != "1" || f[1] != "oops" {
		t.Fatalf("dead letter %q: want key 1, value oops", dlq)
	}
	for _, h := range []string{"streamrls-reason=decode", "streamrls-source-topic=" + names.Input, "streamrls-error="} {
		if !strings.Contains(f[2], h) {
			t.Errorf("dead-letter headers %q lack %q", f[2], h)
		}
	}
	srcPart := regexp.MustCompile(`streamrls-source-partition=(\d+)`).FindStringSubmatch(f[2])
	srcOff := regexp.MustCompile(`streamrls-source-offset=(\d+)`).FindStringSubmatch(f[2])
	if srcPart == nil || srcOff == nil {
		t.Fatalf("dead-letter headers %q lack the source partition or offset", f[2])
	}
	// …which point at the bad input message.
	src := kcat(t, "-b", b.Addr(), "-C", "-t", names.Input, "-p", srcPart[1], "-o", srcOff[1], "-c", "1", "-e", "-q", "-f", "%k\t%s\n")
	if src != "1\toops\n" {
		t.Errorf("input %s/%s/%s is %q, want the bad message", names.Input, srcPart[1], srcOff[1], src)
	}

	// The table: each sensor's state is written once per batch in which
	// it was updated (the input was all there before the processor
	// started, so a few batches hold all 101 messages), keyed by sensor,
	// pinned to the sensor's input partition.
	// kcat -f prints header values as C strings, so the binary pin header
	// (4 bytes, big-endian, mostly zeros) is read from kcat's JSON envelope.
	testkit.Eventually(t, 20*time.Second, func() error {
		fams, err := tryScrape(pURL)
		if err != nil {
			return err
		}
		if v, _ := value(fams, "streamrls_samples_written_total"); v != count {
			return fmt.Errorf("written %v of %d", v, count)
		}
		return nil
	})
	table := kcat(t, "-b", b.Addr(), "-C", "-t", names.Table(), "-o", "beginning", "-e", "-q", "-J")
	perKey := map[string]int{}
	partOf := map[string]int32{}
	for _, line := range strings.Split(strings.TrimSuffix(table, "\n"), "\n") {
		var rec struct {
			Partition int32    `json:"partition"`
			Key       string   `json:"key"`
			Headers   []string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("kcat -J record %.200q: %v", line, err)
		}
		perKey[rec.Key]++
		if p, seen := partOf[rec.Key]; seen && p != rec.Partition {
			t.Errorf("sensor %s has table records in partitions %d and %d", rec.Key, p, rec.Partition)
		}
		partOf[rec.Key] = rec.Partition
		if len(rec.Headers) != 2 || rec.Headers[0] != exactlyonce.PartitionHeader || len(rec.Headers[1]) != 4 {
			t.Errorf("sensor %s: table record headers %q: want [%s <4 bytes>]", rec.Key, rec.Headers, exactlyonce.PartitionHeader)
			continue
		}
		h := rec.Headers[1]
		if pin := int32(h[0])<<24 | int32(h[1])<<16 | int32(h[2])<<8 | int32(h[3]); pin != rec.Partition {
			t.Errorf("sensor %s: pinned to partition %d but in %d", rec.Key, pin, rec.Partition)
		}
	}
	if len(perKey) != sensors || perKey["1"] == 0 || perKey["2"] == 0 {
		t.Errorf("table keys %v, want sensors 1 and 2", perKey)
	}
	if total := perKey["1"] + perKey["2"]; total >= count+1 {
		t.Errorf("%d table records for %d input messages: want one per sensor per batch", total, count+1)
	}
	if strconv.Itoa(int(partOf["1"])) != srcPart[1] {
		t.Errorf("sensor 1's state is in table partition %d, its input in %s", partOf["1"], srcPart[1])
	}

	// The snapshots: JSON values keyed by sensor, every --snapshot-every 10
	// samples; each sensor's last one holds θ of all its samples.
	xs, ys := testkit.SensorSamples(sensors, 3, count, 1)
	perSensor := count / sensors
	var snaps string
	last := map[string]schema.Snapshot{}
	testkit.Eventually(t, 20*time.Second, func() error {
		snaps = kcat(t, "-b", b.Addr(), "-C", "-t", names.Snapshots, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n")
		for _, line := range strings.Split(strings.TrimSuffix(snaps, "\n"), "\n") {
			k, v, ok := strings.Cut(line, "\t")
			if !ok {
				continue
			}
			var sn schema.Snapshot
			if err := json.Unmarshal([]byte(v), &sn); err != nil {
				return fmt.Errorf("snapshot %.200q: %v", v, err)
			}
			if sn.Sensor != k {
				return fmt.Errorf("snapshot keyed %q is of sensor %q", k, sn.Sensor)
			}
			if sn.Samples >= last[k].Samples {
				last[k] = sn
			}
		}
		for i := 0; i < sensors; i++ {
			if got := last[emitter.SensorID(i)].Samples; got != uint64(perSensor) {
				return fmt.Errorf("sensor %s: last snapshot at %d samples, want %d", emitter.SensorID(i), got, perSensor)
			}
		}
		return nil
	})
	for i := 0; i < sensors; i++ {
		sn := last[emitter.SensorID(i)]
		for j, spec := range rls.DefaultSpecs() {
			theta, _, err := rlstest.Oracle(spec, xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			if e := testkit.RelErr(sn.Models[j].Theta, theta); e > 1e-9 {
				t.Errorf("sensor %s %s: snapshot θ off the oracle by %.3g", sn.Sensor, spec.Name, e)
			}
		}
	}
}
