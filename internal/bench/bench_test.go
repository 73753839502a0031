package bench

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePhases(t *testing.T) {
	all := []string{"single", "counter", "batch", "latency", "processes", "scale", "serve", "recovery"}
	for _, c := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"abcd", []string{"single", "counter", "batch", "latency"}},
		{"acdv", []string{"single", "counter", "latency", "processes"}},
		{"p", []string{"scale"}},
		{"s", []string{"serve"}},
		{"r", []string{"recovery"}},
		{"abcdprsv", all},
		{"vsrpdcba", all},
		{"latency,single", []string{"single", "latency"}},
		{" serve , r ", []string{"serve", "recovery"}},
		{"ac,latency", []string{"single", "counter", "latency"}},
		{"single,a", []string{"single"}},
		{"processes", []string{"processes"}},
		{"scale,serve", []string{"scale", "serve"}},
		{"", nil},
		{",", nil},
		{"x", nil},
		{"a0", nil},
		{"c'", nil},
		{"abx", nil},
		{"single,zz", nil},
		{"Single", nil},
		{"single counter", nil},
	} {
		got, err := ParsePhases(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("ParsePhases(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParsePhases(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestPhaseTable checks the table's names and letters are unique, that no
// name reads as letters, and that the default is the letters' abcd.
func TestPhaseTable(t *testing.T) {
	names, letters := map[string]bool{}, map[string]bool{}
	for _, p := range phases {
		if names[p.name] || letters[p.letter] || len(p.letter) != 1 || p.run == nil {
			t.Errorf("phase %+v: duplicate name or letter, or no function", p)
		}
		names[p.name], letters[p.letter] = true, true
		onlyLetters := true
		for _, r := range p.name {
			onlyLetters = onlyLetters && phaseLettered(string(r)) != nil
		}
		if onlyLetters {
			t.Errorf("phase name %q reads as letters", p.name)
		}
	}
	got, err := ParsePhases(defaultPhases())
	want, _ := ParsePhases("abcd")
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("default phases %q = %v, %v; want %v", defaultPhases(), got, err, want)
	}
}

func TestValidatePhases(t *testing.T) {
	c := Config{Dir: t.TempDir(), Phases: "ab,zz"}
	c.defaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `unknown phase "zz"`) || !strings.Contains(err.Error(), "latency (d)") {
		t.Errorf("Validate with phases ab,zz: %v; want the unknown phase and the list", err)
	}
	for _, phases := range []string{"v", "processes", "s", "serve"} {
		c := Config{Dir: t.TempDir(), Phases: phases}
		c.defaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "executable") {
			t.Errorf("Validate phases %s without a binary: %v; want an error", phases, err)
		}
	}
	c = Config{Dir: t.TempDir(), Phases: "single,p"}
	c.defaults()
	if err := c.Validate(); err != nil {
		t.Errorf("Validate phases single,p: %v", err)
	}
	if !c.has(PhaseScale) || !c.has(PhaseSingle) || c.has(PhaseCounter) {
		t.Errorf("has: single,p should hold scale and single, not counter")
	}
}

func TestLowerMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2},
		{[]float64{0.9, 0.7}, 0.7},
		{[]float64{2, 2, 1, 9, 9}, 2},
	} {
		in := slices.Clone(c.in)
		if got := lowerMedian(in, cmp.Compare[float64]); got != c.want {
			t.Errorf("lowerMedian(%v) = %v, want %v", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("lowerMedian changed its input: %v, was %v", in, c.in)
		}
	}
}

func TestMedianRound(t *testing.T) {
	if median(nil) != nil {
		t.Error("median of no rounds is not nil")
	}
	ts := []*Throughput{{Phase: "a", SamplesPerSec: 300, Seconds: 1}, {SamplesPerSec: 100, Seconds: 3}, {SamplesPerSec: 200, Seconds: 2}}
	m := median(ts)
	if m.SamplesPerSec != 200 || m.Seconds != 2 || !slices.Equal(m.Rounds, []float64{300, 100, 200}) {
		t.Errorf("median = %+v; want the 200 samples/s round with rounds 300 100 200", m)
	}
	if ts[2].Rounds != nil {
		t.Error("median changed the round it picked")
	}
}

func TestQuantileMs(t *testing.T) {
	hundred := make([]time.Duration, 100) // 1 ms … 100 ms
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		v    []time.Duration
		p    float64
		want float64
	}{
		{hundred, 0, 1},
		{hundred, 0.5, 51},  // index 49.5 rounds to 50
		{hundred, 0.9, 90},  // index 89.1
		{hundred, 0.99, 99}, // index 98.01
		{hundred, 1, 100},
		{[]time.Duration{1500 * time.Microsecond}, 0.99, 1.5},
		{[]time.Duration{time.Millisecond, 3 * time.Millisecond}, 0.5, 3},
		{[]time.Duration{time.Millisecond, 2 * time.Millisecond, 7 * time.Millisecond}, 0.5, 2},
	} {
		if got := quantileMs(c.v, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantileMs(%d values, %v) = %v, want %v", len(c.v), c.p, got, c.want)
		}
	}
}

func TestThroughputArithmetic(t *testing.T) {
	tp := &Throughput{Messages: 1000, Samples: 4000}
	tp.finish(500*time.Millisecond, 2*time.Second, 5*time.Millisecond)
	if tp.StartupSeconds != 0.5 || tp.Seconds != 2 || tp.SamplesPerSec != 2000 || tp.MessagesPerSec != 500 || tp.CPUMicros != 5 {
		t.Errorf("finish: %+v; want start-up 0.5 s, 2 s, 2000 samples/s, 500 messages/s, 5 µs/message", tp)
	}
	tp.changelog(10, 1000)
	if tp.StateWrites != 10 || tp.ChangelogBytes != 1000 || tp.ChangelogBytesPerSample != 0.25 {
		t.Errorf("changelog: %+v; want 10 writes, 1000 bytes, 0.25 per sample", tp)
	}
	zero := &Throughput{}
	zero.finish(0, 0, time.Second)
	zero.changelog(1, 1)
	if zero.SamplesPerSec != 0 || zero.CPUMicros != 0 || zero.ChangelogBytesPerSample != 0 {
		t.Errorf("nothing measured: %+v; want zeros", zero)
	}
}

func TestReportRatios(t *testing.T) {
	single := &Throughput{SamplesPerSec: 300, CPUMicros: 2}
	counter := &Throughput{SamplesPerSec: 100, CPUMicros: 4}
	own := &Throughput{SamplesPerSec: 200, CPUMicros: 3}
	nobatch := &Throughput{SamplesPerSec: 150}
	batch := &Throughput{SamplesPerSec: 1000}

	rep := &Report{Single: single, Counter: counter, CounterOwn: own, SingleNoBatches: nobatch, Batch: batch}
	rep.ratios()
	want := Report{Single: single, Counter: counter, CounterOwn: own, SingleNoBatches: nobatch, Batch: batch,
		SingleOverCounter: 3, SingleOverCounterOwn: 1.5, SingleNoBatchesOverCounter: 1.5,
		SingleNoBatchesOverCounterOwn: 0.75, BatchOverCounter: 10, CounterCPUOverSingle: 2, CounterOwnCPUOverSingle: 1.5}
	if !sameRatios(*rep, want) {
		t.Errorf("ratios: %+v\nwant %+v", *rep, want)
	}

	// A phase not run, or a zero denominator, leaves its ratios at 0.
	rep = &Report{Single: single, Counter: &Throughput{}, Batch: batch}
	rep.ratios()
	if !sameRatios(*rep, Report{}) {
		t.Errorf("ratios over a zero counter: %+v; want all 0", *rep)
	}
	rep = &Report{Counter: counter, CounterOwn: own}
	rep.ratios()
	if !sameRatios(*rep, Report{}) {
		t.Errorf("ratios without (a): %+v; want all 0", *rep)
	}
}

func sameRatios(a, b Report) bool {
	return a.SingleOverCounter == b.SingleOverCounter && a.SingleOverCounterOwn == b.SingleOverCounterOwn &&
		a.SingleNoBatchesOverCounter == b.SingleNoBatchesOverCounter &&
		a.SingleNoBatchesOverCounterOwn == b.SingleNoBatchesOverCounterOwn &&
		a.BatchOverCounter == b.BatchOverCounter && a.CounterCPUOverSingle == b.CounterCPUOverSingle &&
		a.CounterOwnCPUOverSingle == b.CounterOwnCPUOverSingle && a.TxOverNoTx == b.TxOverNoTx
}

// TestTxOverNoTx: (a)/(a-notx) is the transactional run's samples/s over
// the non-transactional one's, numerator first, and 0 when either did not
// run or the denominator is 0.
func TestTxOverNoTx(t *testing.T) {
	tx := &Throughput{SamplesPerSec: 270}
	notx := &Throughput{SamplesPerSec: 300}
	for _, c := range []struct {
		name     string
		tx, notx *Throughput
		want     float64
	}{
		{"both", tx, notx, 0.9},
		{"faster with transactions", notx, tx, 300.0 / 270},
		{"no (a-notx)", tx, nil, 0},
		{"no (a)", nil, notx, 0},
		{"(a-notx) measured nothing", tx, &Throughput{}, 0},
	} {
		rep := &Report{Single: c.tx, SingleNoTx: c.notx}
		rep.ratios()
		if math.Abs(rep.TxOverNoTx-c.want) > 1e-12 {
			t.Errorf("%s: TxOverNoTx = %v, want %v", c.name, rep.TxOverNoTx, c.want)
		}
	}
	// The other ratios are untouched by (a-notx).
	rep := &Report{Single: tx, SingleNoTx: notx, Counter: &Throughput{SamplesPerSec: 90}}
	rep.ratios()
	if rep.SingleOverCounter != 3 || rep.SingleNoBatchesOverCounter != 0 {
		t.Errorf("with (a-notx): (a)/(c) %v, (a0)/(c) %v; want 3 and 0", rep.SingleOverCounter, rep.SingleNoBatchesOverCounter)
	}
	b, err := json.Marshal(&Report{Single: tx, SingleNoTx: notx, TxOverNoTx: 0.9, RoundsTxOverNoTx: []float64{0.85, 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"single_no_transactions":{`, `"tx_over_no_tx":0.9`, `"round_tx_over_no_tx":[0.85,0.9]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON report lacks %s: %s", want, b)
		}
	}
}

// TestWriteTableNoTx: the (a-notx) row, its rounds and the ratio
// (a)/(a-notx) of the median and of each round.
func TestWriteTableNoTx(t *testing.T) {
	rep := &Report{
		Settings:   Settings{Brokers: []string{"b:9092"}, Partitions: 8, Sensors: 64, Dim: 10, Models: []string{"rls"}, GoMaxProcs: 2, FlushEvery: "0s", BatchInterval: "100ms"},
		Single:     &Throughput{Phase: LabelSingle, What: "single", MeasuredAt: "processor", Messages: 10, Samples: 10, SamplesPerSec: 270, Rounds: []float64{270, 280}},
		SingleNoTx: &Throughput{Phase: LabelSingleNoTx, What: "single, no transactions", MeasuredAt: "processor", Messages: 10, Samples: 10, SamplesPerSec: 300, Rounds: []float64{300, 320}},
		TxOverNoTx: 0.9, RoundsTxOverNoTx: []float64{0.9, 0.875},
	}
	tableHas(t, rep,
		"a-notx single, no transactions",
		"samples/s of every round: (a) 270 280  (a-notx) 300 320\n",
		"(a)/(a-notx) transactional over non-transactional: 0.90 (rounds: 0.90 0.88)\n",
	)
}

// tableHas writes rep's table, fails the test for each of wants it lacks,
// and returns the table.
func tableHas(t *testing.T, rep *Report, wants ...string) string {
	t.Helper()
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	return out
}

func TestServeRatios(t *testing.T) {
	// 1000 samples each: without batches 0.5 s to start and 1.5 s to
	// process (500 samples/s from the first sample), with batches 1 s and
	// 0.5 s (2000 samples/s).
	s := &Serve{
		NoBatches: &Throughput{StartupSeconds: 0.5, Seconds: 1.5, SamplesPerSec: 1000 / 1.5},
		Batches:   &Throughput{StartupSeconds: 1, Seconds: 0.5, SamplesPerSec: 2000},
	}
	s.ratios()
	if math.Abs(s.BatchesOverNoBatches-3) > 1e-12 || math.Abs(s.BatchesOverNoBatchesFromStart-4.0/3) > 1e-12 {
		t.Errorf("serve ratios %v and %v from the start; want 3 and 1.33", s.BatchesOverNoBatches, s.BatchesOverNoBatchesFromStart)
	}
}

func TestIntervalName(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", -1: "0", 100 * time.Millisecond: "100ms", 2 * time.Second: "2s"} {
		if got := IntervalName(d); got != want {
			t.Errorf("IntervalName(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	rep := &Report{
		Settings:          Settings{Brokers: []string{"b:9092"}, Partitions: 8, Sensors: 64, Dim: 10, Models: []string{"rls"}, GoMaxProcs: 2, FlushEvery: "0s", BatchInterval: "100ms"},
		Single:            &Throughput{Phase: "a", What: "single", MeasuredAt: "processor", Messages: 10, Samples: 10, SamplesPerSec: 300, MessagesPerSec: 300, CPUMicros: 2, Rounds: []float64{290, 300.4}},
		Counter:           &Throughput{Phase: "c", What: "counter", MeasuredAt: "processor", Messages: 10, Samples: 10, SamplesPerSec: 100, MessagesPerSec: 100, CPUMicros: 4, Rounds: []float64{100, 99.6}},
		StateBytes:        1326,
		Latency:           &Latency{Rate: 1000, Achieved: 999.4, Samples: 50, WarmupSecs: 1, P50Ms: 1.234, P90Ms: 2, P99Ms: 3.456, MaxMs: 9, BatchInterval: "100ms"},
		ScaleProcess:      &ScaleProcess{Sensors: 1000, Small: &Throughput{What: "small", Rounds: []float64{10, 20}}, Large: &Throughput{What: "large", Messages: 5, BatchInterval: "100ms", Rounds: []float64{5, 8}}, LargeOverSmall: 0.4, RoundsLargeOverSmall: []float64{0.5, 0.4}},
		SingleOverCounter: 3, CounterCPUOverSingle: 2, RoundsSingleOverCounter: []float64{2.9, 3.016},
	}
	out := tableHas(t, rep,
		"streamrls bench: broker b:9092; 8 partitions, 64 sensors, n=10, models rls; processors in this process; GOMAXPROCS 2; producer flush 0s; batch interval 100ms\n",
		"state value per sensor: 1326 bytes",
		"median of 2 rounds; samples/s of every round: (a) 290 300  (c) 100 100\n",
		"(a)/(c) single-sample messages over the goka counter: 3.00 (rounds: 2.90 3.02); CPU per message (c)/(a): 2.00\n",
		"    p50 1.23 ms   p90 2.00 ms   p99 3.46 ms   max 9.00 ms\n",
		"    ratio 1000/64 sensors: 0.40;",
		"ratio of every round: 0.50 0.40; samples/s of every round: 64 sensors 10 20, 1000 sensors 5 8\n",
	)
	for _, absent := range []string{"(c')", "(a0)", "(b)/(c)", "(v)", "(s)", "(r)"} {
		if strings.Contains(out, absent) {
			t.Errorf("report mentions %s, which did not run:\n%s", absent, out)
		}
	}
	rows := 0
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 12 && f[2] == "processor" {
			rows++
		}
	}
	if rows != 2 {
		t.Errorf("%d rows measured at the processor, want 2:\n%s", rows, out)
	}
}
