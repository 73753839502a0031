package e2e

import (
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/internal/bench"
)

// benchJSON runs `streamrls bench --json` with tiny counts and decodes the report.
func benchJSON(t *testing.T, args ...string) *bench.Report {
	t.Helper()
	args = append([]string{"bench", "--json", "--log-level", "warn"}, args...)
	cmd := exec.Command(binary, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("streamrls %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("streamrls %s: %v", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
	var rep bench.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	return &rep
}

func checkThroughput(t *testing.T, name string, tp *bench.Throughput, samples int64) {
	t.Helper()
	if tp == nil {
		t.Fatalf("%s: not in the report", name)
	}
	if tp.Samples != samples || tp.SamplesPerSec <= 0 || tp.Seconds <= 0 || tp.CPUMicros <= 0 {
		t.Errorf("%s: %+v; want %d samples measured", name, tp, samples)
	}
}

// checkChangelog checks a phase's table writes: at least minWrites and at
// most the samples, and at most maxBytes, and bytes per sample to match.
func checkChangelog(t *testing.T, name string, tp *bench.Throughput, minWrites, maxBytes int64) {
	t.Helper()
	if tp == nil {
		return
	}
	if tp.StateWrites < minWrites || tp.StateWrites > tp.Samples || tp.ChangelogBytes <= 0 || tp.ChangelogBytes > maxBytes ||
		tp.ChangelogBytesPerSample != float64(tp.ChangelogBytes)/float64(tp.Samples) {
		t.Errorf("%s: %d state writes, %d changelog bytes, %v per sample; want %d to %d writes and at most %d bytes",
			name, tp.StateWrites, tp.ChangelogBytes, tp.ChangelogBytesPerSample, minWrites, tp.Samples, maxBytes)
	}
}

// TestBenchSmoke runs every phase of `streamrls bench` with tiny counts: a
// few seconds, not a measurement. The report must account for every sample
// (each phase waits for all of them), and the state size is the codec's
// (defaultStateBytes).
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	rep := benchJSON(t, "--phases", "abcdrsv", "--scale-samples", "3", "--messages", "3000", "--rounds", "2", "--batch-samples", "32768",
		"--rate", "2000", "--latency-duration", "1500ms", "--warmup", "500ms", "--recovery-sensors", "2000",
		"--serve-messages", "3000", "--batch-interval", "50ms")
	if rep.StateBytes != defaultStateBytes {
		t.Errorf("state bytes %d, want %d", rep.StateBytes, defaultStateBytes)
	}
	if rep.Settings.BatchInterval != "50ms" {
		t.Errorf("batch interval %q, want 50ms", rep.Settings.BatchInterval)
	}
	checkThroughput(t, "(a)", rep.Single, 3000)
	checkThroughput(t, "(a0)", rep.SingleNoBatches, 3000)
	if rep.Single.BatchInterval != "50ms" || rep.SingleNoBatches.BatchInterval != "0" || rep.SingleNoBatches.Phase != "a0" {
		t.Errorf("(a) at %q, (a0) %q at %q; want 50ms and a0 at 0", rep.Single.BatchInterval, rep.SingleNoBatches.Phase, rep.SingleNoBatches.BatchInterval)
	}
	if len(rep.SingleNoBatches.Rounds) != 2 || rep.SingleNoBatchesOverCounter <= 0 || rep.SingleNoBatchesOverCounterOwn <= 0 || rep.SingleOverCounterOwn <= 0 {
		t.Errorf("(a0) rounds %v, (a0)/(c) %v, (a0)/(c') %v, (a)/(c') %v; want 2 rounds and ratios > 0",
			rep.SingleNoBatches.Rounds, rep.SingleNoBatchesOverCounter, rep.SingleNoBatchesOverCounterOwn, rep.SingleOverCounterOwn)
	}
	// (a) without transactions, in the same rounds, at the same interval.
	checkThroughput(t, "(a-notx)", rep.SingleNoTx, 3000)
	checkChangelog(t, "(a-notx)", rep.SingleNoTx, 64, 3000*defaultStateBytes)
	if rep.SingleNoTx.Phase != bench.LabelSingleNoTx || rep.SingleNoTx.BatchInterval != "50ms" ||
		len(rep.SingleNoTx.Rounds) != 2 || len(rep.RoundsTxOverNoTx) != 2 ||
		math.Abs(rep.TxOverNoTx-rep.Single.SamplesPerSec/rep.SingleNoTx.SamplesPerSec) > 1e-9*rep.TxOverNoTx {
		t.Errorf("(a-notx) %q at %q, rounds %v, ratio %v (rounds %v); want %s at 50ms, 2 rounds and (a)/(a-notx) of the medians",
			rep.SingleNoTx.Phase, rep.SingleNoTx.BatchInterval, rep.SingleNoTx.Rounds, rep.TxOverNoTx, rep.RoundsTxOverNoTx, bench.LabelSingleNoTx)
	}
	// Without batches every message writes its whole state; with them a
	// sensor writes at most once per batch, and at least once in all.
	checkChangelog(t, "(a0)", rep.SingleNoBatches, 3000, 3000*defaultStateBytes)
	checkChangelog(t, "(a)", rep.Single, 64, 3000*defaultStateBytes)
	// The counter writes one decimal int64 per message.
	checkChangelog(t, "(c)", rep.Counter, 3000, 3000*4)
	checkChangelog(t, "(c')", rep.CounterOwn, 3000, 3000*4)
	checkThroughput(t, "(b)", rep.Batch, 32768)
	checkThroughput(t, "(c)", rep.Counter, 3000)
	checkThroughput(t, "(c')", rep.CounterOwn, 3000)
	if len(rep.Single.Rounds) != 2 || len(rep.RoundsSingleOverCounter) != 2 || rep.SingleOverCounter <= 0 {
		t.Errorf("rounds %v, ratios %v, ratio %v; want 2 rounds", rep.Single.Rounds, rep.RoundsSingleOverCounter, rep.SingleOverCounter)
	}
	if rep.Batch.Messages != 32768/256 {
		t.Errorf("(b): %d messages, want %d", rep.Batch.Messages, 32768/256)
	}
	l := rep.Latency
	if l == nil || l.Samples < 1000 || !(0 < l.P50Ms && l.P50Ms <= l.P99Ms && l.P99Ms <= l.MaxMs) {
		t.Errorf("latency %+v: want ≥ 1000 samples after the warm-up and 0 < p50 ≤ p99 ≤ max", l)
	}
	if l != nil && (l.BatchInterval != "50ms" || l.BatchIntervalMs != 50) {
		t.Errorf("latency at batch interval %q (%v ms), want 50ms", l.BatchInterval, l.BatchIntervalMs)
	}
	v := rep.Serve
	if v == nil {
		t.Fatal("(v): not in the report")
	}
	checkThroughput(t, "(v0)", v.NoBatches, 3000)
	checkThroughput(t, "(v)", v.Batches, 3000)
	if v.NoBatches.MeasuredAt != "serve" || v.NoBatches.BatchInterval != "0" || v.Batches.BatchInterval != "50ms" ||
		v.BatchesOverNoBatches <= 0 || v.BatchesOverNoBatchesFromStart <= 0 || v.PollMs <= 0 {
		t.Errorf("(v) %+v; (v0) %+v; (v) %+v: want both runs at serve, at 0 and 50ms, with ratios", v, v.NoBatches, v.Batches)
	}
	if v.NoBatches.MessageBytes < 100 {
		t.Errorf("(v): %d bytes per message, want a JSON sample", v.NoBatches.MessageBytes)
	}
	checkChangelog(t, "(v0)", v.NoBatches, 3000, 3000*defaultStateBytes)
	checkChangelog(t, "(v)", v.Batches, 64, 3000*defaultStateBytes)
	sc := rep.Scale
	if sc == nil || sc.Sensors != 64 || sc.SamplesPerSensor != 3 || sc.PagedSensors != 64 || sc.Lookups == 0 ||
		!(0 < sc.LookupP50Ms && sc.LookupP50Ms <= sc.LookupP99Ms) || sc.PageMs <= 0 || sc.DashboardMs <= 0 || sc.MetricsMs <= 0 || sc.ServeRSSMiB <= 0 {
		t.Errorf("(s) %+v: want all 64 sensors paged and every figure measured", sc)
	}
	r := rep.Recovery
	if r == nil || r.ViewSensorsGot != 2000 || r.ProcessorCold <= 0 || r.ViewCold <= 0 {
		t.Errorf("recovery %+v: want all 2000 sensors", r)
	}
}

// TestBenchSeparateProcesses runs (a) and (b) in two `streamrls process`
// processes sharing the partitions, measured at the view.
func TestBenchSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	rep := benchJSON(t, "--phases", "single,batch", "--processes", "2", "--messages", "3000", "--rounds", "1", "--batch-samples", "16384")
	checkThroughput(t, "(a)", rep.Single, 3000)
	checkThroughput(t, "(a0)", rep.SingleNoBatches, 3000)
	checkThroughput(t, "(b)", rep.Batch, 16384)
	if rep.Single.MeasuredAt != "view" || rep.Settings.Processes != 2 {
		t.Errorf("measured at %q with %d processes, want the view and 2", rep.Single.MeasuredAt, rep.Settings.Processes)
	}
}

// TestBenchScaleProcess runs (p) with tiny counts, its inputs in sensor
// order, two rounds: every run must account for every sample, the large
// one write each of its sensors at least once, and the report say the
// order and give each round's ratio of the rates.
func TestBenchScaleProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	rep := benchJSON(t, "--phases", "p", "--sensors", "300", "--messages", "3000", "--scale-order", "sensor", "--rounds", "2")
	sp := rep.ScaleProcess
	if sp == nil {
		t.Fatal("(p): not in the report")
	}
	checkThroughput(t, "(p) at 64", sp.Small, 3000)
	checkThroughput(t, "(p) at 300", sp.Large, 3000)
	checkChangelog(t, "(p) at 64", sp.Small, 64, 3000*defaultStateBytes)
	checkChangelog(t, "(p) at 300", sp.Large, 300, 3000*defaultStateBytes)
	if sp.Order != "sensor" || sp.Sensors != 300 || sp.LargeOverSmall <= 0 || sp.RSSMiB <= 0 ||
		!strings.Contains(sp.Large.What, "300 sensors") || !strings.Contains(sp.Large.What, "sensor order") {
		t.Errorf("(p) %+v, large run %q: want 300 sensors in sensor order, a ratio and an RSS", sp, sp.Large.What)
	}
	if len(sp.RoundsLargeOverSmall) != 2 || len(sp.Small.Rounds) != 2 || len(sp.Large.Rounds) != 2 {
		t.Fatalf("(p) rounds: ratios %v, rates %v and %v; want two of each", sp.RoundsLargeOverSmall, sp.Small.Rounds, sp.Large.Rounds)
	}
	for i, r := range sp.RoundsLargeOverSmall {
		if want := sp.Large.Rounds[i] / sp.Small.Rounds[i]; math.Abs(r-want) > 1e-9*want {
			t.Errorf("(p) round %d: ratio %v, its rates give %v", i+1, r, want)
		}
	}
	if lo := min(sp.RoundsLargeOverSmall[0], sp.RoundsLargeOverSmall[1]); sp.LargeOverSmall != lo {
		t.Errorf("(p) ratio %v: want the median (the lower of two) of %v", sp.LargeOverSmall, sp.RoundsLargeOverSmall)
	}
}

// defaultStateBytes is the table value of a sensor of the default bank at
// n = 10: envelope 42, bank header 10, and per model 1 + len(name) + 21·8 +
// n·8 + n(n+1)/2·8.
const defaultStateBytes = 42 + 10 + 2*(1+4+27*8+10*8+55*8)
