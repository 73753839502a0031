package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// readTopic reads topic from its start until it has been quiet for 2 s
// (the writers are done before it is called).
func readTopic(t *testing.T, ctx context.Context, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			if ctx.Err() != nil {
				t.Fatalf("reading %s: %v", topic, ctx.Err())
			}
			return out
		}
	}
}

// events decodes the events of a topic's records.
func events(t *testing.T, recs []*kgo.Record) []schema.Event {
	t.Helper()
	out := make([]schema.Event, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Value, &out[i]); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, r.Value)
		}
		if out[i].Sensor != string(r.Key) {
			t.Fatalf("event %d: sensor %q under key %q", i, out[i].Sensor, r.Key)
		}
	}
	return out
}

// waitApplied waits until the view shows want samples for every sensor.
func waitApplied(t *testing.T, v *view.View, sensors int, want uint64, timeout time.Duration) {
	t.Helper()
	testkit.Eventually(t, timeout, func() error {
		for i := range sensors {
			s, ok, err := v.Get(emitter.SensorID(i))
			if err != nil || !ok || s.Meta.Samples != want {
				var n uint64
				if ok {
					n = s.Meta.Samples
				}
				return fmt.Errorf("sensor %s: %d of %d samples (%v)", emitter.SensorID(i), n, want, err)
			}
		}
		return nil
	})
}

// emitArgs are the arguments of a `streamrls emit` of the test streams.
func emitArgs(addr string, sensors int, count int64, seed uint64, more ...string) []string {
	return append([]string{"emit", "--brokers", addr, "--sensors", strconv.Itoa(sensors), "--dim", "10",
		"--count", strconv.FormatInt(count, 10), "--rate", "0", "--format", "binary", "--batch", "20",
		"--seed", strconv.FormatUint(seed, 10)}, more...)
}

// runToEnd runs a command of the binary and waits for it to succeed.
func runToEnd(t *testing.T, timeout time.Duration, args ...string) {
	t.Helper()
	p := start(t, args...)
	select {
	case <-p.Done():
	case <-time.After(timeout):
		t.Fatalf("%s did not end within %v", args[0], timeout)
	}
	if p.ExitCode() != 0 {
		t.Fatalf("%s: %v\n%s", args[0], p.Err(), testkit.Tail(p.Output(), 20))
	}
}

// TestAnomalyEvents: `emit --outliers 0.001:10` into a real broker and
// `streamrls process` (the expert override --anomaly-z 4, --score-model the
// λ = 1 model): at least 99 % of the injected outliers after the warm-up
// open an anomaly episode at the sample they were injected into or fall in
// one opened at most rls.EpisodeGap samples before, at most 0.01 % of the
// other samples open one; each sensor's state counts its episodes.
func TestAnomalyEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, perSensor, seed, warm = 16, 9000, 11, 200
	const count = sensors * perSensor
	out := emitter.Outliers{P: 0.001, Size: 10}
	runToEnd(t, 2*time.Minute, emitArgs(b.Addr(), sensors, count, seed, "--outliers", out.String())...)
	start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--anomaly-z", "4")
	v := testkit.StartView(t, ctx, kc, "rls")
	waitApplied(t, v, sensors, perSensor, 2*time.Minute)

	_, _, outlier := testkit.Emitted(sensors, 10, count, seed, emitter.Drift{}, out)
	flagged := map[string]map[uint64]bool{}
	perSensorEvents := map[string]uint64{}
	for _, e := range events(t, readTopic(t, ctx, b.Addr(), "rls-events")) {
		if e.Kind != schema.EventAnomaly {
			continue
		}
		if e.Model != "mod1" || e.Z == nil || !(math.Abs(*e.Z) > 4) {
			t.Errorf("anomaly event %+v: want model mod1 and |z| > 4", e)
		}
		if flagged[e.Sensor] == nil {
			flagged[e.Sensor] = map[uint64]bool{}
		}
		flagged[e.Sensor][e.Samples-1] = true // Samples counts the flagged one
		perSensorEvents[e.Sensor]++
	}
	injected, hit, others, false_ := 0, 0, 0, 0
	for i := range sensors {
		id := emitter.SensorID(i)
		for k, o := range outlier[i] {
			if k < warm {
				continue
			}
			switch f := flagged[id][uint64(k)]; {
			case o:
				injected++
				for j := k; j >= 0 && j >= k-rls.EpisodeGap; j-- {
					if flagged[id][uint64(j)] {
						hit++
						break
					}
				}
			default:
				others++
				if f {
					false_++
				}
			}
		}
		s, _, _ := v.Get(id)
		if got := s.Bank.Models[0].Watch.Episodes; got != perSensorEvents[id] {
			t.Errorf("sensor %s: state counts %d episodes, %d events", id, got, perSensorEvents[id])
		}
	}
	t.Logf("outliers after the warm-up: %d injected, %d flagged (%.2f%%); other samples: %d flagged of %d (%.4f%%)",
		injected, hit, 100*float64(hit)/float64(injected), false_, others, 100*float64(false_)/float64(others))
	if injected < 100 {
		t.Fatalf("only %d outliers injected: the test needs more samples", injected)
	}
	if float64(hit) < 0.99*float64(injected) {
		t.Errorf("%d of %d outliers flagged, want ≥ 99%%", hit, injected)
	}
	if float64(false_) > 1e-4*float64(others) {
		t.Errorf("%d of %d other samples flagged, want ≤ 0.01%%", false_, others)
	}
}

// TestDriftEvents: `emit --drift jump:N` (θ* becomes −θ* after N samples)
// into two processor groups, --on-drift none and reset, with --scores. The
// λ = 1 model's detector fires for every sensor within 200 samples of the
// jump (median ≤ 100) and not before it; with reset its recent MSE is back
// within 20 % of σ² = 0.01 1,000 samples after the jump, while without it
// stays far above. kafka-python reads both topics (see
// testdata/read_scores.py) and finds what franz-go finds.
func TestDriftEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, jump, after, seed = 16, 2000, 1000, 5
	const perSensor = jump + after
	runToEnd(t, 2*time.Minute, emitArgs(b.Addr(), sensors, sensors*perSensor, seed, "--drift", "jump:"+strconv.Itoa(jump))...)
	for _, g := range []string{"none", "reset"} {
		start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--group", g, "--on-drift", g, "--scores")
	}
	for _, g := range []string{"none", "reset"} {
		v := testkit.StartView(t, ctx, kc, g)
		waitApplied(t, v, sensors, perSensor, 2*time.Minute)
		first := map[string]uint64{}
		before := 0
		for _, e := range events(t, readTopic(t, ctx, b.Addr(), g+"-events")) {
			if e.Kind != schema.EventDrift || e.Model != "mod1" {
				continue
			}
			if e.Samples <= jump {
				before++
				continue
			}
			if _, ok := first[e.Sensor]; !ok {
				first[e.Sensor] = e.Samples - jump
			}
		}
		var delays []int
		for i := range sensors {
			d, ok := first[emitter.SensorID(i)]
			if !ok || d > 200 {
				t.Errorf("group %s sensor %s: λ = 1 drift detected %d samples after the jump (detected: %v), want ≤ 200", g, emitter.SensorID(i), d, ok)
			}
			delays = append(delays, int(d))
		}
		sort.Ints(delays)
		median := float64(delays[sensors/2-1]+delays[sensors/2]) / 2
		t.Logf("group %s: λ = 1 detection delays %v (median %v), %d alarms before the jump", g, delays, median, before)
		if median > 100 || before > 0 {
			t.Errorf("group %s: median delay %v, want ≤ 100; %d false alarms before the jump, want 0", g, median, before)
		}
		worst, sum := 0.0, 0.0
		for i := range sensors {
			s, _, _ := v.Get(emitter.SensorID(i))
			m := s.Bank.Models[0].RecentMSE
			worst, sum = math.Max(worst, math.Abs(m/0.01-1)), sum+m
		}
		mean := sum / sensors
		t.Logf("group %s: λ = 1 recent MSE %d samples after the jump: mean over sensors %.4g (σ² = 0.01), worst sensor off by %.0f%%", g, after, mean, 100*worst)
		switch {
		case g == "reset" && math.Abs(mean/0.01-1) > 0.2:
			t.Errorf("with reset: recent MSE %.4g, want within 20%% of σ² = 0.01", mean)
		case g == "none" && mean < 0.1:
			t.Errorf("without reset: recent MSE %.4g, want far above σ² (old and new θ* averaged)", mean)
		}
	}
	interopScores(t, ctx, b.Addr(), "reset", sensors*perSensor)
}

// pyScores is what testdata/read_scores.py prints.
type pyScores struct {
	Records, Samples, Events int
	Kinds                    map[string]int
}

// interopScores: kafka-python reads GROUP-scores and GROUP-events and
// counts what franz-go counts.
func interopScores(t *testing.T, ctx context.Context, addr, group string, samples int) {
	t.Helper()
	requirePython(t, "kafka")
	want := pyScores{Kinds: map[string]int{}}
	for _, r := range readTopic(t, ctx, addr, group+"-scores") {
		var rec schema.ScoreRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		want.Records++
		want.Samples += len(rec.Samples)
	}
	for _, e := range events(t, readTopic(t, ctx, addr, group+"-events")) {
		want.Events++
		want.Kinds[e.Kind+"/"+e.Model]++
	}
	if want.Samples != samples {
		t.Errorf("franz-go: %d samples in the scores, want %d", want.Samples, samples)
	}
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "read_scores.py"),
		"--bootstrap", addr, "--scores", group+"-scores", "--events", group+"-events")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("read_scores.py: %v\n%s", err, stderrOf(err))
	}
	var got pyScores
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %.300s", err, raw)
	}
	t.Logf("kafka-python read %d score records (%d samples) and %d events %v", got.Records, got.Samples, got.Events, got.Kinds)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kafka-python read %+v, franz-go %+v", got, want)
	}
}

// TestCrashScores is TestCrashRecovery with --scores and outliers: 6
// SIGKILLs of `streamrls process` while samples stream in, one with its
// state dir wiped. The state still equals the oracle; every input message
// has its score record on GROUP-scores at least once, its repeats (a batch
// produced but not committed before a kill) are the same bytes, and after
// dropping repeats by (partition, offset) each sensor's scores are its
// samples in order, as an rls.Bank fed them scores them. A read_committed
// consumer (kcat) sees no repeats at all: each input message's score record
// exactly once, and each event exactly once, as many as the final models
// count.
func TestCrashScores(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, dim, partitions = 16, 10, 8
	const count, rate, seed = 18000, 1500, 43
	out := emitter.Outliers{P: 0.002, Size: 10} // anomaly events to count
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed, Outliers: out})
	stateDir := filepath.Join(t.TempDir(), "state")
	args := processArgs(kc, names, stateDir, "--scores")
	seed2 := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed2, 9))
	t.Logf("kill timing seed %d", seed2)
	p := start(t, args...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	for k := range 6 {
		before := applied(v)
		if before < count {
			waitProgress(t, v, before)
		}
		time.Sleep(time.Duration(rng.IntN(700)) * time.Millisecond)
		p.Kill()
		t.Logf("kill %d at about %d samples", k+1, applied(v))
		if k == 2 {
			if err := os.RemoveAll(stateDir); err != nil {
				t.Fatal(err)
			}
			t.Logf("deleted %s: the next process rebuilds from the changelog", stateDir)
		}
		p = start(t, args...)
	}
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys, _ := testkit.Emitted(sensors, dim, count, seed, emitter.Drift{}, out)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)

	type at struct {
		p int32
		o int64
	}
	inputs := map[at]string{}
	for _, r := range readTopic(t, ctx, b.Addr(), names.Input) {
		inputs[at{r.Partition, r.Offset}] = string(r.Key)
	}
	seen := map[at][]byte{}
	repeats := 0
	for _, r := range readTopic(t, ctx, b.Addr(), names.Scores) {
		var rec schema.ScoreRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		k := at{rec.Partition, rec.Offset}
		if inputs[k] != rec.Sensor || string(r.Key) != rec.Sensor {
			t.Fatalf("score record of %s under key %q: input there is %q", rec.Sensor, r.Key, inputs[k])
		}
		if prev, ok := seen[k]; ok {
			repeats++
			if string(prev) != string(r.Value) {
				t.Errorf("scores of input %d/%d repeated with other values:\n%s\n%s", k.p, k.o, prev, r.Value)
			}
			continue
		}
		seen[k] = r.Value
	}
	t.Logf("%d score records for %d input messages, %d repeats dropped", len(seen)+repeats, len(inputs), repeats)
	if len(seen) != len(inputs) || len(inputs) != count {
		t.Fatalf("scores of %d input messages, %d on the input, want %d", len(seen), len(inputs), count)
	}
	// Per sensor, in input order (one partition per sensor).
	keys := make([]at, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].p < keys[j].p || keys[i].p == keys[j].p && keys[i].o < keys[j].o })
	banks := map[string]*rls.Bank{}
	next := map[string]int{}
	for _, k := range keys {
		var rec schema.ScoreRecord
		_ = json.Unmarshal(seen[k], &rec)
		bank := banks[rec.Sensor]
		if bank == nil {
			bank = rls.NewBank(rls.DefaultSpecs(), dim)
			banks[rec.Sensor] = bank
		}
		i, _ := strconv.Atoi(rec.Sensor)
		for _, s := range rec.Samples {
			j := next[rec.Sensor]
			next[rec.Sensor]++
			if s.Seq == nil || *s.Seq != int64(j) || s.Y != ys[i-1][j] {
				t.Fatalf("sensor %s: score %d has seq %v y %v, want %d %v", rec.Sensor, j, s.Seq, s.Y, j, ys[i-1][j])
			}
			if err := bank.Update(xs[i-1][j], ys[i-1][j]); err != nil {
				t.Fatal(err)
			}
			for mi, m := range bank.Models {
				if w := m.LastScore(); s.Models[mi].YHat != w.YHat || s.Models[mi].E != w.E {
					t.Fatalf("sensor %s sample %d %s: y_hat %v e %v, want %v %v", rec.Sensor, j, m.Name, s.Models[mi].YHat, s.Models[mi].E, w.YHat, w.E)
				}
			}
		}
	}
	for i := range sensors {
		if n := next[emitter.SensorID(i)]; n != len(ys[i]) {
			t.Errorf("sensor %s: %d scored samples, want %d", emitter.SensorID(i), n, len(ys[i]))
		}
	}
	committedExactlyOnce(t, b.Addr(), names, len(inputs), v, sensors)
}

// kcatRecord is a record as `kcat -J` prints it.
type kcatRecord struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Payload   string `json:"payload"`
}

// kcatCommitted reads topic from its start to its end with kcat as a
// read_committed consumer (librdkafka's default, set here all the same).
func kcatCommitted(t *testing.T, addr, topic string) []kcatRecord {
	t.Helper()
	raw := kcat(t, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J",
		"-X", "isolation.level=read_committed")
	var out []kcatRecord
	for _, line := range strings.Split(strings.TrimSuffix(raw, "\n"), "\n") {
		if line == "" {
			continue
		}
		var r kcatRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("kcat -J record of %s %.200q: %v", topic, line, err)
		}
		out = append(out, r)
	}
	return out
}

// committedExactlyOnce: a read_committed consumer (kcat) of GROUP-scores
// finds the score record of each of the inputs input messages exactly
// once, and of GROUP-events each event at most once, as many per sensor
// and model as the final models in v count.
func committedExactlyOnce(t *testing.T, addr string, names topology.Names, inputs int, v *view.View, sensors int) {
	t.Helper()
	testkit.Require(t, "kcat", "Debian's kcat: a read_committed consumer")
	type at struct {
		p int32
		o int64
	}
	// A transaction left open by a killed process holds read_committed
	// readers back until it is fenced or times out: wait for every record.
	var seen map[at]int
	repeats := 0
	testkit.Eventually(t, 90*time.Second, func() error {
		seen, repeats = map[at]int{}, 0
		for _, r := range kcatCommitted(t, addr, names.Scores) {
			var rec schema.ScoreRecord
			if err := json.Unmarshal([]byte(r.Payload), &rec); err != nil {
				t.Fatalf("score record %.200q: %v", r.Payload, err)
			}
			k := at{rec.Partition, rec.Offset}
			if seen[k]++; seen[k] > 1 {
				repeats++
			}
		}
		if len(seen) < inputs {
			return fmt.Errorf("kcat (read_committed): score records of %d of %d input messages", len(seen), inputs)
		}
		return nil
	})
	t.Logf("kcat (read_committed): %d score records for %d input messages, %d repeats", len(seen)+repeats, inputs, repeats)
	if len(seen) != inputs || repeats != 0 {
		n := 0
		for k, c := range seen {
			if c > 1 && n < 10 {
				t.Errorf("input %d/%d scored %d times", k.p, k.o, c)
				n++
			}
		}
		t.Errorf("kcat (read_committed): score records of %d input messages with %d repeats, want each of %d exactly once",
			len(seen), repeats, inputs)
	}

	type event struct {
		p           int32
		o           int64
		model, kind string
		samples     uint64
	}
	evs := map[event]int{}
	perModel := map[string]uint64{} // sensor/model/kind → events
	dup := 0
	for _, r := range kcatCommitted(t, addr, names.Events) {
		var e schema.Event
		if err := json.Unmarshal([]byte(r.Payload), &e); err != nil {
			t.Fatalf("event %.200q: %v", r.Payload, err)
		}
		k := event{e.Partition, e.Offset, e.Model, e.Kind, e.Samples}
		if evs[k]++; evs[k] > 1 {
			dup++
			if dup <= 10 {
				t.Errorf("event %+v of sensor %s read %d times", k, e.Sensor, evs[k])
			}
		}
		perModel[e.Sensor+"/"+e.Model+"/"+e.Kind]++
	}
	t.Logf("kcat (read_committed): %d events, %d repeats", len(evs)+dup, dup)
	if dup > 0 {
		t.Errorf("kcat (read_committed): %d repeated events, want none", dup)
	}
	// Anomaly events (one per episode) are of the score model (the first);
	// drift events of every model.
	for i := range sensors {
		s, _, _ := v.Get(emitter.SensorID(i))
		for j, m := range s.Bank.Models {
			if got := perModel[s.ID+"/"+m.Name+"/"+schema.EventDrift]; got != m.Drifts {
				t.Errorf("sensor %s %s: %d drift events, the model counts %d", s.ID, m.Name, got, m.Drifts)
			}
			if got := perModel[s.ID+"/"+m.Name+"/"+schema.EventAnomaly]; j == 0 && got != m.Watch.Episodes {
				t.Errorf("sensor %s %s: %d anomaly events, the model counts %d episodes", s.ID, m.Name, got, m.Watch.Episodes)
			}
		}
	}
}
