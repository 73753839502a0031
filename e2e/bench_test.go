package e2e

import (
	"encoding/json"
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

// TestBenchSmoke runs every phase of `streamrls bench` with tiny counts: a
// few seconds, not a measurement. The report must account for every sample
// (each phase waits for all of them), and the state size is the codec's:
// envelope 42 + bank header 10 + per model 1 + len(name) + 6·8 + n·8 +
// n(n+1)/2·8 bytes = 42 + 10 + 2·(1+4+48+80+440) = 1198 for n = 10.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	rep := benchJSON(t, "--phases", "abcdr", "--messages", "3000", "--rounds", "2", "--batch-samples", "32768",
		"--rate", "2000", "--latency-duration", "1500ms", "--warmup", "500ms", "--recovery-sensors", "2000")
	if rep.StateBytes != 1198 {
		t.Errorf("state bytes %d, want 1198", rep.StateBytes)
	}
	checkThroughput(t, "(a)", rep.Single, 3000)
	checkThroughput(t, "(b)", rep.Batch, 32768)
	checkThroughput(t, "(c)", rep.Counter, 3000)
	checkThroughput(t, "(c')", rep.CounterOwn, 3000)
	if len(rep.Single.Rounds) != 2 || len(rep.RoundRatios) != 2 || rep.SingleOverCounter <= 0 {
		t.Errorf("rounds %v, ratios %v, ratio %v; want 2 rounds", rep.Single.Rounds, rep.RoundRatios, rep.SingleOverCounter)
	}
	if rep.Batch.Messages != 32768/256 {
		t.Errorf("(b): %d messages, want %d", rep.Batch.Messages, 32768/256)
	}
	l := rep.Latency
	if l == nil || l.Samples < 1000 || !(0 < l.P50Ms && l.P50Ms <= l.P99Ms && l.P99Ms <= l.MaxMs) {
		t.Errorf("latency %+v: want ≥ 1000 samples after the warm-up and 0 < p50 ≤ p99 ≤ max", l)
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
	rep := benchJSON(t, "--phases", "ab", "--processes", "2", "--messages", "3000", "--rounds", "1", "--batch-samples", "16384")
	checkThroughput(t, "(a)", rep.Single, 3000)
	checkThroughput(t, "(b)", rep.Batch, 16384)
	if rep.Single.MeasuredAt != "view" || rep.Settings.Processes != 2 {
		t.Errorf("measured at %q with %d processes, want the view and 2", rep.Single.MeasuredAt, rep.Settings.Processes)
	}
}
