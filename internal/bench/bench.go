// Package bench is `streamrls bench`: end-to-end throughput and latency of
// the processor on a real broker, next to a trivial goka processor measured
// in the same run on the same broker with the same Kafka configuration.
//
// Phases (each on its own topics and groups, one after another, so they do
// not compete for the CPU), by name and the letter the report labels them
// with; --phases takes either:
//
//	single    (a) single-sample messages through the real processor, topic
//	          to written state, at BatchInterval and (a0) without batches
//	batch     (b) micro-batches of Batch samples (binary), topic to view
//	counter   (c) a trivial goka counter processor on the input of (a): the
//	          baseline; (c') the same on streamrls's storage
//	latency   (d) emit-to-view latency at a steady Rate of single-sample
//	          messages
//	processes (v) broker, process and serve as three OS processes, measured
//	          at serve's HTTP API, without batches and at BatchInterval
//	scale     (p) the processing rate of (a) at Sensors sensors over that at
//	          64 sensors, same number of messages, in one run (not run by
//	          default)
//	serve     (s) serve's HTTP API over a table of Sensors sensors: a page,
//	          paging through all, the dashboard, /metrics, lookups, RSS (not
//	          run by default)
//	recovery  (r) recovery of a large table (not run by default)
//
// Throughput phases pre-fill their input topic before any processor starts,
// so they measure consumption and processing, not the emitter. A rate is
// samples / (time of the last sample seen − time of the first), observed by
// polling every millisecond (a, c), in the view's update callback (b) or by
// polling serve's HTTP API (v); the time from the processor's start to the
// first sample is reported apart as start-up.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

// The letters that label the phases' rows in the report (Throughput.Phase);
// --phases takes them as aliases of the phases' names.
const (
	LabelSingle    = "a"
	LabelBatch     = "b"
	LabelCounter   = "c"
	LabelLatency   = "d"
	LabelRecovery  = "r"
	LabelProcesses = "v"
	LabelServe     = "s"
	LabelScale     = "p"
	// LabelSingleNoBatches is (a) without batches (--batch-interval 0): it
	// runs with (a), in every round, unless (a) itself has no batches.
	LabelSingleNoBatches = "a0"
	// LabelSingleNoTx is (a) without Kafka transactions, run in the same
	// rounds.
	LabelSingleNoTx = "a-notx"
	// LabelCounterOwn is (c) on streamrls's storage (--counter-storage).
	LabelCounterOwn = "c'"
)

// Config of one bench run. Zero values take the documented defaults.
type Config struct {
	// Kafka of the broker to use (the caller starts an embedded one unless
	// the user gave --brokers).
	Kafka kafkaconf.Kafka
	// Embedded says the broker is the embedded one (for the report).
	Embedded bool
	// Dir holds the processors' and views' local state. Required.
	Dir string
	// Phases to run: names or letters, comma-separated, letters also run
	// together (ParsePhases). Default "single,batch,counter,latency".
	Phases string

	Partitions int          // partitions of every input topic; default 8
	Sensors    int          // sensors (keys); default 64
	Dim        int          // features per sample; default 10
	Specs      []rls.Spec   // the model bank; default rls.DefaultSpecs()
	Seed       uint64       // generator seed; default 1
	Format     codec.Format // wire format of (a), (c) and (d); default binary

	// BatchInterval is the processor's batch interval in (a), (b) and (d)
	// (processor.Config.BatchInterval: 0 takes processor.DefaultBatchInterval,
	// NoBatches writes every message's state at once).
	BatchInterval time.Duration
	// BatchMaxInterval, BatchDensity and BatchMaxBytes are the processor's
	// (processor.Config) in every phase; zero takes its default, and
	// NoBatchGrowth as BatchMaxInterval turns growing off.
	BatchMaxInterval time.Duration
	BatchDensity     int
	BatchMaxBytes    int
	// Messages of one sample each for (a), (c) and each input of (p). Default 300000.
	Messages int64
	// Rounds runs (c) and (a) alternately this many times, each on a new
	// group over the same input, and reports the median round; (p) runs
	// its two sensor counts alternately as often and reports the median
	// of the rounds' ratios. Default 3.
	Rounds int
	// CounterStorage is the local storage of the goka counter (c): "goka"
	// (goka's default LevelDB storage), "streamrls" (tablestore.StorageBuilder,
	// the processor's) or "both" (the default: (c) with goka's, (c') with
	// streamrls's, one after the other in every round).
	CounterStorage string
	// Batch is the samples per message of (b). Default 256.
	Batch int
	// BatchSamples is the number of samples of (b). Default 2097152 (2²¹).
	BatchSamples int64
	// Rate is the steady emit rate of (d), samples/s. Default 10000.
	Rate float64
	// LatencyDuration is how long (d) emits. Default 6s.
	LatencyDuration time.Duration
	// Warmup is the start of (d) whose samples are not counted. Default 1s.
	Warmup time.Duration
	// RecoverySensors is the number of sensors of the recovery phase (r).
	// Default 100000.
	RecoverySensors int

	// ServeMessages is the number of single-sample JSON messages of (v).
	// Default 300000.
	ServeMessages int64
	// ScaleSamples is the samples per sensor of (s). Default 20.
	ScaleSamples int
	// ScaleOrder is the order of the samples that fill (s)'s table and
	// make (p)'s two inputs: ScaleOrderRoundRobin (the default) or
	// ScaleOrderSensor.
	ScaleOrder string
	// Binary is the streamrls executable that (v) starts as broker, serve
	// and process, and (s) as serve.
	Binary string

	// Processes > 0 runs (a) and (b) in that many separate OS processes
	// (ProcessorCommand + flags) instead of in this process; both are then
	// measured at the view. (c) and (d) always run in this process.
	Processes int
	// ProcessorCommand starts a processor process: the bench appends
	// --brokers, --topic, --group, --state-dir, --partitions, --model and
	// --log-level. E.g. {"/path/to/streamrls", "process"}.
	ProcessorCommand []string

	// Timeout bounds each phase's wait for its last sample. Default 5m.
	Timeout time.Duration
	// Log receives progress lines (nil: discarded).
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.Phases == "" {
		c.Phases = defaultPhases()
	}
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.Sensors == 0 {
		c.Sensors = 64
	}
	if c.Dim == 0 {
		c.Dim = 10
	}
	if len(c.Specs) == 0 {
		c.Specs = rls.DefaultSpecs()
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Format == codec.FormatUnknown {
		c.Format = codec.FormatBinary
	}
	if c.Messages == 0 {
		c.Messages = 300000
	}
	if c.Rounds == 0 {
		c.Rounds = 3
	}
	if c.BatchMaxInterval == 0 {
		c.BatchMaxInterval = processor.DefaultBatchMaxInterval
	}
	if c.BatchDensity == 0 {
		c.BatchDensity = processor.DefaultBatchDensity
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = processor.DefaultBatchMaxBytes
	}
	if c.BatchInterval == 0 {
		c.BatchInterval = processor.DefaultBatchInterval
	}
	if c.ScaleOrder == "" {
		c.ScaleOrder = ScaleOrderRoundRobin
	}
	if c.ScaleSamples == 0 {
		c.ScaleSamples = 20
	}
	if c.ServeMessages == 0 {
		c.ServeMessages = 300000
	}
	if c.CounterStorage == "" {
		c.CounterStorage = "both"
	}
	if c.Batch == 0 {
		c.Batch = 256
	}
	if c.BatchSamples == 0 {
		c.BatchSamples = 1 << 21
	}
	if c.Rate == 0 {
		c.Rate = 10000
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = 6 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.RecoverySensors == 0 {
		c.RecoverySensors = 100000
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a bad setting, naming its flag.
func (c *Config) Validate() error {
	if _, err := ParsePhases(c.Phases); err != nil {
		return fmt.Errorf("--phases %q: %w", c.Phases, err)
	}
	switch {
	case c.Dir == "":
		return errors.New("bench: no state directory")
	case c.Partitions < 0:
		return fmt.Errorf("--partitions %d: want ≥ 1", c.Partitions)
	case c.Sensors < 0:
		return fmt.Errorf("--sensors %d: want ≥ 1", c.Sensors)
	case c.Dim < 0 || c.Dim > processor.DefaultMaxDim:
		return fmt.Errorf("--dim %d: want 1..%d", c.Dim, processor.DefaultMaxDim)
	case c.Messages < 0:
		return fmt.Errorf("--messages %d: want ≥ 1", c.Messages)
	case c.Rounds < 0:
		return fmt.Errorf("--rounds %d: want ≥ 1", c.Rounds)
	case c.CounterStorage != "goka" && c.CounterStorage != "streamrls" && c.CounterStorage != "both":
		return fmt.Errorf("--counter-storage %q: want goka, streamrls or both", c.CounterStorage)
	case c.Batch < 0:
		return fmt.Errorf("--batch %d: want ≥ 1", c.Batch)
	case c.BatchSamples < 0:
		return fmt.Errorf("--batch-samples %d: want ≥ 1", c.BatchSamples)
	case c.Rate < 0:
		return fmt.Errorf("--rate %v: want > 0", c.Rate)
	case c.LatencyDuration < 0:
		return fmt.Errorf("--latency-duration %v: want > 0", c.LatencyDuration)
	case c.Warmup < 0:
		return fmt.Errorf("--warmup %v: want ≥ 0", c.Warmup)
	case c.LatencyDuration > 0 && c.Warmup >= c.LatencyDuration:
		return fmt.Errorf("--warmup %v: must be shorter than --latency-duration %v", c.Warmup, c.LatencyDuration)
	case c.RecoverySensors < 0:
		return fmt.Errorf("--recovery-sensors %d: want ≥ 1", c.RecoverySensors)
	case c.ServeMessages < 0:
		return fmt.Errorf("--serve-messages %d: want ≥ 1", c.ServeMessages)
	case c.ScaleSamples < 0:
		return fmt.Errorf("--scale-samples %d: want ≥ 1", c.ScaleSamples)
	case c.ScaleOrder != ScaleOrderRoundRobin && c.ScaleOrder != ScaleOrderSensor:
		return fmt.Errorf("--scale-order %q: want %s or %s", c.ScaleOrder, ScaleOrderRoundRobin, ScaleOrderSensor)
	case (c.has(PhaseProcesses) || c.has(PhaseServe)) && c.Binary == "":
		return errors.New("bench: phases processes (v) and serve (s) need the streamrls executable")
	case c.Processes < 0:
		return fmt.Errorf("--processes %d: want ≥ 0 (0: in this process)", c.Processes)
	case c.Processes > 0 && len(c.ProcessorCommand) == 0:
		return errors.New("bench: --processes needs a processor command")
	}
	if err := rls.ValidateSpecs(c.Specs); err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	return c.processorBatches(c.BatchInterval).Validate()
}

// NoBatches as Config.BatchInterval (or a phase's interval) runs the
// processor without batches; NoBatchGrowth as Config.BatchMaxInterval keeps
// its batches from growing.
const (
	NoBatches     time.Duration = -1
	NoBatchGrowth time.Duration = -1
)

// processorBatches is the processor configuration of c's batch settings at
// interval.
func (c *Config) processorBatches(interval time.Duration) processor.Config {
	pc := processor.Config{BatchInterval: interval, BatchMaxInterval: c.BatchMaxInterval, BatchDensity: c.BatchDensity,
		BatchMaxBytes: c.BatchMaxBytes}
	if interval == NoBatches {
		pc.BatchInterval, pc.NoBatches = 0, true
	}
	if c.BatchMaxInterval == NoBatchGrowth {
		pc.BatchMaxInterval, pc.NoBatchGrowth = 0, true
	}
	if c.Dim > processor.DefaultFleetMaxDim {
		pc.MaxDim = c.Dim // the samples the run sends must not be dead-lettered
	}
	return pc
}

// has says whether the run includes the phase of that name.
func (c *Config) has(name string) bool {
	names, _ := ParsePhases(c.Phases)
	return slices.Contains(names, name)
}

// Report is the result of a run; every field is in the --json output.
// A ratio's name says numerator Over denominator.
type Report struct {
	Settings Settings `json:"settings"`
	// Single is (a), Batch (b), Counter (c); nil when not run. CounterOwn
	// is (c'), the counter on streamrls's storage (with --counter-storage both).
	Single     *Throughput `json:"single,omitempty"`
	Batch      *Throughput `json:"batch,omitempty"`
	Counter    *Throughput `json:"counter,omitempty"`
	CounterOwn *Throughput `json:"counter_streamrls_storage,omitempty"`
	// SingleNoBatches is (a0): (a) with --batch-interval 0, run in the same
	// rounds; nil when (a) itself runs without batches.
	SingleNoBatches *Throughput `json:"single_no_batches,omitempty"`
	// SingleNoTx is (a-notx): (a) with processor.Config.NoTransactions, run
	// in the same rounds, in this process only (nil with Processes > 0).
	// TxOverNoTx is (a)/(a-notx) in samples per second, of the median
	// rounds; RoundsTxOverNoTx is (a)/(a-notx) of each round.
	SingleNoTx       *Throughput `json:"single_no_transactions,omitempty"`
	TxOverNoTx       float64     `json:"tx_over_no_tx,omitempty"`
	RoundsTxOverNoTx []float64   `json:"round_tx_over_no_tx,omitempty"`
	// SingleOverCounterOwn and CounterOwnCPUOverSingle are as below for (c').
	SingleOverCounterOwn    float64 `json:"single_over_counter_streamrls_storage,omitempty"`
	CounterOwnCPUOverSingle float64 `json:"cpu_counter_streamrls_storage_over_single,omitempty"`
	// SingleNoBatchesOverCounter and SingleNoBatchesOverCounterOwn are
	// (a0)/(c) and (a0)/(c') in samples per second, of the median rounds.
	SingleNoBatchesOverCounter    float64 `json:"single_no_batches_over_counter,omitempty"`
	SingleNoBatchesOverCounterOwn float64 `json:"single_no_batches_over_counter_streamrls_storage,omitempty"`
	// SingleOverCounter is (a)/(c) in samples (= messages) per second, of
	// the median rounds; RoundsSingleOverCounter is (a)/(c) of each round.
	SingleOverCounter       float64   `json:"single_over_counter,omitempty"`
	RoundsSingleOverCounter []float64 `json:"round_ratios,omitempty"`
	// CounterCPUOverSingle is (c)/(a) in CPU time per message: the
	// throughput ratio (a)/(c) the CPU cost alone predicts, less sensitive
	// to other load.
	CounterCPUOverSingle float64 `json:"cpu_counter_over_single,omitempty"`
	// BatchOverCounter is (b) samples/s over (c) messages/s.
	BatchOverCounter float64       `json:"batch_over_counter,omitempty"`
	Latency          *Latency      `json:"latency,omitempty"`
	Recovery         *Recovery     `json:"recovery,omitempty"`
	Serve            *Serve        `json:"serve,omitempty"`
	Scale            *Scale        `json:"scale,omitempty"`
	ScaleProcess     *ScaleProcess `json:"scale_process,omitempty"`
	// StateBytes is the size of one sensor's table value (envelope and bank).
	StateBytes int `json:"state_bytes"`
}

// ratios sets the report's ratios of throughputs from the phases run; a
// ratio whose phases did not run, or whose denominator is 0, stays 0.
func (rep *Report) ratios() {
	rep.SingleOverCounter = samplesOver(rep.Single, rep.Counter)
	rep.SingleOverCounterOwn = samplesOver(rep.Single, rep.CounterOwn)
	rep.TxOverNoTx = samplesOver(rep.Single, rep.SingleNoTx)
	rep.SingleNoBatchesOverCounter = samplesOver(rep.SingleNoBatches, rep.Counter)
	rep.SingleNoBatchesOverCounterOwn = samplesOver(rep.SingleNoBatches, rep.CounterOwn)
	rep.BatchOverCounter = samplesOver(rep.Batch, rep.Counter)
	if rep.Single != nil {
		rep.CounterCPUOverSingle = cpuOver(rep.Counter, rep.Single)
		rep.CounterOwnCPUOverSingle = cpuOver(rep.CounterOwn, rep.Single)
	}
}

// samplesOver is a's samples/s over b's; 0 if either is missing or b's
// rate is 0.
func samplesOver(a, b *Throughput) float64 {
	if a == nil || b == nil {
		return 0
	}
	return over(a.SamplesPerSec, b.SamplesPerSec)
}

// cpuOver is a's CPU time per message over b's; 0 if either is missing or
// b's is 0.
func cpuOver(a, b *Throughput) float64 {
	if a == nil || b == nil {
		return 0
	}
	return over(a.CPUMicros, b.CPUMicros)
}

// over is a / b, 0 when b is not positive.
func over(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Settings echo the run's configuration.
type Settings struct {
	Brokers    []string `json:"brokers"`
	Embedded   bool     `json:"embedded_broker"`
	Partitions int      `json:"partitions"`
	Sensors    int      `json:"sensors"`
	Dim        int      `json:"dim"`
	Models     []string `json:"models"`
	Format     string   `json:"format"`
	Processes  int      `json:"processes"`
	GoMaxProcs int      `json:"gomaxprocs"`
	FlushEvery string   `json:"producer_flush_frequency"`
	// BatchInterval is the processor's batch interval in (a), (b) and (d):
	// a duration, "0" for none.
	BatchInterval string `json:"batch_interval"`
	// BatchMaxInterval, BatchDensity and BatchMaxBytes: how far a batch
	// grows while the processor catches up, and its size bound.
	BatchMaxInterval string `json:"batch_max_interval"`
	BatchDensity     int    `json:"batch_density"`
	BatchMaxBytes    int    `json:"batch_max_bytes"`
}

// Throughput is one throughput phase.
type Throughput struct {
	Phase          string  `json:"phase"`
	What           string  `json:"what"`
	MeasuredAt     string  `json:"measured_at"` // "processor" (callback side) or "view"
	Messages       int64   `json:"messages"`
	Samples        int64   `json:"samples"`
	MessageBytes   int     `json:"message_bytes"` // bytes of one input value
	PrefillSeconds float64 `json:"prefill_seconds"`
	StartupSeconds float64 `json:"startup_seconds"` // processor start to first sample seen
	Seconds        float64 `json:"seconds"`         // first to last sample seen
	SamplesPerSec  float64 `json:"samples_per_second"`
	MessagesPerSec float64 `json:"messages_per_second"`
	// CPUMicros is the CPU time of this process (the embedded broker
	// included) per message from the processor's start to the last sample,
	// plus the processor processes' with --processes.
	CPUMicros float64 `json:"cpu_us_per_message"`
	// BatchInterval is the processor's batch interval ("0": none); empty
	// for the counter.
	BatchInterval string `json:"batch_interval,omitempty"`
	// StateWrites and ChangelogBytes are the writes to the group table and
	// the bytes of their values (the processor's streamrls_state_writes_total
	// and streamrls_state_write_bytes_total; for the counter, its encoded
	// values); ChangelogBytesPerSample is ChangelogBytes / Samples.
	StateWrites             int64   `json:"state_writes,omitempty"`
	ChangelogBytes          int64   `json:"changelog_bytes,omitempty"`
	ChangelogBytesPerSample float64 `json:"changelog_bytes_per_sample,omitempty"`
	// Rounds are the samples/s of every round; the fields above are the
	// median round's.
	Rounds []float64 `json:"rounds_samples_per_second,omitempty"`
}

// median returns the round with the median samples/s, with every round's
// rate in Rounds.
func median(ts []*Throughput) *Throughput {
	if len(ts) == 0 {
		return nil
	}
	m := *lowerMedian(ts, func(a, b *Throughput) int { return cmp.Compare(a.SamplesPerSec, b.SamplesPerSec) })
	for _, t := range ts {
		m.Rounds = append(m.Rounds, t.SamplesPerSec)
	}
	return &m
}

// lowerMedian returns the median of v (not empty) in the order of cmp: of
// an even number, the lower of the two in the middle. v is not changed.
func lowerMedian[T any](v []T, cmp func(a, b T) int) T {
	sorted := slices.Clone(v)
	slices.SortFunc(sorted, cmp)
	return sorted[(len(sorted)-1)/2]
}

// quantileMs is the p-quantile (0 ≤ p ≤ 1) of sorted (ascending, not
// empty) in milliseconds: the element at p·(len−1), rounded to the nearest
// index.
func quantileMs(sorted []time.Duration, p float64) float64 {
	return sorted[int(math.Round(p*float64(len(sorted)-1)))].Seconds() * 1000
}

// changelog records the table writes of the phase.
func (t *Throughput) changelog(writes, bytes int64) {
	t.StateWrites, t.ChangelogBytes = writes, bytes
	if t.Samples > 0 {
		t.ChangelogBytesPerSample = float64(bytes) / float64(t.Samples)
	}
}

// IntervalName is a batch interval as the --batch-interval flag spells it:
// "0" for none.
func IntervalName(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return d.String()
}

func (t *Throughput) finish(startup, span time.Duration, cpu time.Duration) {
	if t.Messages > 0 {
		t.CPUMicros = float64(cpu.Microseconds()) / float64(t.Messages)
	}
	t.StartupSeconds = startup.Seconds()
	t.Seconds = span.Seconds()
	if span > 0 {
		t.SamplesPerSec = float64(t.Samples) / span.Seconds()
		t.MessagesPerSec = float64(t.Messages) / span.Seconds()
	}
}

// Latency is phase (d).
type Latency struct {
	Rate       float64 `json:"rate"`     // target samples/s
	Achieved   float64 `json:"achieved"` // samples/s actually emitted
	Samples    int     `json:"samples"`  // samples measured (after the warm-up)
	WarmupSecs float64 `json:"warmup_seconds"`
	P50Ms      float64 `json:"p50_ms"`
	P90Ms      float64 `json:"p90_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// BatchInterval of the processor ("0": none) and in milliseconds: the
	// p99 to read against it.
	BatchInterval   string  `json:"batch_interval"`
	BatchIntervalMs float64 `json:"batch_interval_ms"`
}

// Run runs the configured phases, in the order of the phase table.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Kafka = cfg.Kafka.WithDefaults()
	r := &runner{cfg: cfg, id: strconv.FormatInt(time.Now().UnixNano()%1e10, 36), log: cfg.Log}
	rep := newReport(cfg)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: state dir: %w", err)
	}
	r.chosen, _ = ParsePhases(cfg.Phases)
	for _, p := range phases {
		if !slices.Contains(r.chosen, p.name) {
			continue
		}
		if err := p.run(r, ctx, rep); err != nil {
			rep.ratios() // of the phases done
			return rep, fmt.Errorf("phase %s (%s, %s): %w", p.name, p.letter, p.about, err)
		}
	}
	rep.ratios()
	return rep, nil
}

// newReport is the report of a run of cfg before any phase.
func newReport(cfg Config) *Report {
	rep := &Report{Settings: Settings{
		Brokers: cfg.Kafka.Brokers, Embedded: cfg.Embedded, Partitions: cfg.Partitions, Sensors: cfg.Sensors, Dim: cfg.Dim,
		Format: cfg.Format.String(), Processes: cfg.Processes, GoMaxProcs: gomaxprocs(),
		FlushEvery: cfg.Kafka.FlushFrequency.String(), BatchInterval: IntervalName(cfg.BatchInterval),
		BatchMaxInterval: max(cfg.BatchMaxInterval, 0).String(), BatchDensity: cfg.BatchDensity, BatchMaxBytes: cfg.BatchMaxBytes,
	}}
	for _, s := range cfg.Specs {
		rep.Settings.Models = append(rep.Settings.Models, s.String())
	}
	rep.StateBytes = StateBytes(cfg.Specs, cfg.Dim)
	return rep
}

// StateBytes is the size of a sensor's table value with the given bank.
func StateBytes(specs []rls.Spec, dim int) int {
	st := &processor.BankState{Bank: rls.NewBank(specs, dim)}
	rec := &processor.Record{Meta: codec.Meta{Dim: int32(dim)}, State: st}
	b, err := processor.TableCodec{Learner: processor.RLS{Specs: specs}}.Encode(rec)
	if err != nil {
		return 0
	}
	return len(b)
}

type runner struct {
	cfg Config
	id  string
	log *slog.Logger

	singlePrefill time.Duration
	singleBytes   int
	// afterSingle, if set, is called when (a) has seen its last sample,
	// before its processor stops.
	afterSingle func()
	// sensorMajor fills topics sensor after sensor (see ScaleOrderSensor).
	sensorMajor bool
	// chosen are the names of the phases to run.
	chosen []string
	// roundsDone says (a) and (c) have run: they run together.
	roundsDone bool
}

// name is a topic or group name unique to this run.
func (r *runner) name(what string) string { return "bench-" + r.id + "-" + what }

func (r *runner) dir(what string) string { return filepath.Join(r.cfg.Dir, r.id, what) }

func (r *runner) names(what string, input string) topology.Names {
	return topology.Names{Input: input, Group: r.name(what)}.WithDefaults()
}
