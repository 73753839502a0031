package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/alert"
	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/internal/setting"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/pipeline"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

// kafkaFlags are the client flags of every role that talks to Kafka.
type kafkaFlags struct {
	brokers        string
	sessionTimeout time.Duration
	replication    int
	retention      time.Duration
	security       securityFlags
}

func (k *kafkaFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", kafkaconf.DefaultBroker, "Kafka bootstrap brokers, comma-separated host:port")
	fs.DurationVar(&k.sessionTimeout, "session-timeout", kafkaconf.DefaultSessionTimeout, "consumer-group session timeout: how soon a dead processor's partitions move to another (brokers' default minimum: 6s)")
	fs.IntVar(&k.replication, "replication", kafkaconf.DefaultReplication, "replication factor of the topics streamrls creates")
	fs.DurationVar(&k.retention, "retention", 0, "retention of the input and dead-letter topics streamrls creates; 0: forever, so that replay can rebuild every model")
	k.security.register(fs, false)
}

func (k *kafkaFlags) config() (kafkaconf.Kafka, error) {
	brokers, err := kafkaconf.ParseBrokers(k.brokers)
	if err != nil {
		return kafkaconf.Kafka{}, flagErr("--brokers: %v", err)
	}
	if k.sessionTimeout < time.Second {
		return kafkaconf.Kafka{}, flagErr("--session-timeout %v: want at least 1s", k.sessionTimeout)
	}
	if k.replication < 1 {
		return kafkaconf.Kafka{}, flagErr("--replication %d: want ≥ 1", k.replication)
	}
	if k.retention < 0 {
		return kafkaconf.Kafka{}, flagErr("--retention %v: want ≥ 0 (0: forever)", k.retention)
	}
	sec, err := k.security.client()
	if err != nil {
		return kafkaconf.Kafka{}, err
	}
	return kafkaconf.Kafka{Brokers: brokers, SessionTimeout: k.sessionTimeout, Replication: k.replication, Retention: k.retention, Security: sec}.WithDefaults(), nil
}

// modelFlags is the repeatable --model NAME:LAMBDA:DELTA.
type modelFlags struct{ specs []string }

func (m *modelFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&m.specs, "model", nil, "a model of the bank as NAME:LAMBDA:DELTA (λ in (0,1], P₀ = δ·I, δ > 0); repeatable; default mod1:1.0:10 and mod2:0.99:1")
}

func (m *modelFlags) parse() ([]rls.Spec, error) {
	if len(m.specs) == 0 {
		return rls.DefaultSpecs(), nil
	}
	seen := map[string]bool{}
	var out []rls.Spec
	for _, s := range m.specs {
		sp, err := rls.ParseSpec(s)
		if err != nil {
			return nil, flagErr("--model %q: %v", s, err)
		}
		if seen[sp.Name] {
			return nil, flagErr("--model %q: model name %q given twice", s, sp.Name)
		}
		seen[sp.Name] = true
		out = append(out, sp)
	}
	return out, nil
}

// namesFlags are the topic and group names of a processor group.
type namesFlags struct {
	topic, group, deadletter string
	partitions               int
}

func (n *namesFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&n.topic, "topic", topology.DefaultInput, "input topic of samples (key = sensor ID); the original notebook's is RLSTrain")
	fs.StringVar(&n.group, "group", topology.DefaultGroup, "processor group; its state is the compacted topic GROUP-table")
	fs.StringVar(&n.deadletter, "deadletter", "", "dead-letter topic for rejected input (default GROUP-deadletter)")
	fs.IntVar(&n.partitions, "partitions", topology.DefaultPartitions, "partitions of the input topic when streamrls creates it (an existing topic keeps its own)")
}

func (n *namesFlags) names() (topology.Names, error) {
	if err := checkPartitions(n.partitions); err != nil {
		return topology.Names{}, err
	}
	return validNames(topology.Names{Input: n.topic, Group: n.group, DeadLetter: n.deadletter})
}

// validNames is n with its defaults, if it is valid.
func validNames(n topology.Names) (topology.Names, error) {
	n = n.WithDefaults()
	return n, flagError(n.Validate(), "topology", namesFlagNames)
}

// namesFlagNames are the flags that set topology.Names's fields.
var namesFlagNames = map[string]string{"Input": "topic", "Group": "group", "DeadLetter": "deadletter"}

func checkPartitions(n int) error {
	if n < 1 {
		return flagErr("--partitions %d: want ≥ 1", n)
	}
	return nil
}

// emitFlags are the synthetic generator's flags.
type emitFlags struct {
	sensors, dim, batch int
	ar                  int
	count               int64
	rate                float64
	linger              time.Duration
	format              string
	seed                uint64
	noise               float64
	drift               string
	outliers            string
}

func (e *emitFlags) register(fs *pflag.FlagSet, defCount int64, defRate float64) {
	fs.IntVar(&e.sensors, "sensors", 8, "number of sensors (keys \"1\" … \"N\")")
	fs.IntVar(&e.dim, "dim", 10, "features per sample; θ* is 1 at the first and last coefficient, 0 elsewhere")
	fs.IntVar(&e.ar, "ar", 0, "send y alone, an AR(P) process of y[t-1], …, y[t-P] and 1 (docs/operations.md); 0: x and y")
	fs.Int64Var(&e.count, "count", defCount, "samples to send in all; 0: forever")
	fs.Float64Var(&e.rate, "rate", defRate, "samples per second in all; 0: as fast as possible")
	fs.IntVar(&e.batch, "batch", 1, "samples per message (a micro-batch per sensor; json and binary only)")
	fs.DurationVar(&e.linger, "linger", time.Second, "a partial micro-batch is sent after at most this long")
	fs.StringVar(&e.format, "format", "json", "wire format: json, text (the original notebook's [i, y, x1, …, xn]) or binary")
	fs.Uint64Var(&e.seed, "seed", 1, "random seed; the same seed sends the same samples")
	fs.Float64Var(&e.noise, "noise", 0.1, "standard deviation of the Gaussian noise on y (negative: none)")
	fs.StringVar(&e.drift, "drift", "none", driftHelp)
	fs.StringVar(&e.outliers, "outliers", "none", "gross errors: P:SIZE adds ±SIZE·σ (σ = --noise) to a sample with probability P (docs/operations.md); none: no outliers")
}

// config is the emitter configuration the flags give (Kafka, topic and
// logging left to the caller), validated by the emitter itself. A negative
// --noise is none; 0 takes the emitter's default.
func (e *emitFlags) config() (emitter.Config, error) {
	f, err := codec.ParseFormat(e.format)
	if err != nil {
		return emitter.Config{}, flagErr("--format: %v", err)
	}
	drift, err := e.parseDrift()
	if err != nil {
		return emitter.Config{}, err
	}
	outliers, err := emitter.ParseOutliers(e.outliers)
	if err == nil {
		err = outliers.Validate()
	}
	if err != nil {
		return emitter.Config{}, flagErr("--outliers: %v", err)
	}
	if e.dim > processor.DefaultMaxDim {
		return emitter.Config{}, flagErr("--dim %d: want 1..%d (the processor's largest --max-dim)", e.dim, processor.DefaultMaxDim)
	}
	cfg := emitter.Config{Sensors: e.sensors, Dim: e.dim, AR: e.ar, Count: e.count, Rate: e.rate, Batch: e.batch,
		Linger: e.linger, Format: f, Seed: e.seed, Noise: max(e.noise, 0), NoNoise: e.noise < 0, Drift: drift,
		Outliers: outliers}
	return cfg, flagError(cfg.Validate(), "emitter", emitterFlagNames)
}

// emitterFlagNames are the flags that set emitter.Config's fields.
var emitterFlagNames = map[string]string{
	"Sensors": "sensors", "Dim": "dim", "Count": "count", "Rate": "rate", "Batch": "batch", "Linger": "linger",
	"Noise": "noise", "Drift": "drift", "AR": "ar",
}

// batchFlags are the micro-batch flags of every role that runs a processor.
type batchFlags struct {
	interval    time.Duration
	maxBytes    string
	maxInterval time.Duration
	density     int
}

func (b *batchFlags) register(fs *pflag.FlagSet) {
	fs.DurationVar(&b.interval, "batch-interval", processor.DefaultBatchInterval,
		"how long a partition's batch collects messages before each sensor it updated writes its state once; 0: none, no txns")
	fs.StringVar(&b.maxBytes, "batch-max-bytes", strings.ReplaceAll(humanize.IBytes(processor.DefaultBatchMaxBytes), " ", ""),
		"end a partition's batch early once the states and outputs waiting in it reach this size (e.g. 64MiB, 500kB, 1048576)")
	fs.DurationVar(&b.maxInterval, "batch-max-interval", processor.DefaultBatchMaxInterval,
		"how long a batch may grow while the processor is behind its input (docs/operations.md, Settings); 0: off")
	fs.IntVar(&b.density, "batch-density", processor.DefaultBatchDensity,
		"the samples per updated sensor a growing batch waits for (see --batch-max-interval); 1: off")
}

// registerTransactions registers --transactions, whose value is *on.
func registerTransactions(fs *pflag.FlagSet, on *bool) {
	fs.BoolVar(on, "transactions", true,
		"write each batch with its input offsets in one Kafka transaction; false: not safe against paused processes (zombies)")
}

// apply sets the batch fields of cfg: 0 turns batches, or their growing,
// off on the command line. The ranges are cfg.Validate's to check.
func (b *batchFlags) apply(cfg *processor.Config) error {
	n, err := humanize.ParseBytes(b.maxBytes)
	if err != nil || n == 0 {
		return flagErr("--batch-max-bytes %q: want a size from 1 byte to 2GiB, e.g. 64MiB", b.maxBytes)
	}
	if b.density == 0 {
		return flagErr("--batch-density 0: want ≥ 1 (1: batches do not grow)")
	}
	cfg.BatchInterval, cfg.BatchMaxBytes = b.interval, int(min(n, math.MaxInt))
	cfg.BatchMaxInterval, cfg.BatchDensity = b.maxInterval, b.density
	cfg.NoBatches, cfg.NoBatchGrowth = b.interval == 0, b.maxInterval == 0
	return nil
}

// processorFlagNames are the flags that set processor.Config's fields.
var processorFlagNames = map[string]string{
	"BatchInterval": "batch-interval", "BatchMaxBytes": "batch-max-bytes", "BatchMaxInterval": "batch-max-interval",
	"BatchDensity": "batch-density", "MaxDim": "max-dim", "MaxValueBytes": "max-value-bytes", "IdleTTL": "idle-ttl", "Tombstones": "tombstones",
	"Partitions": "partitions", "Snapshots.Interval": "snapshot-interval",
	"JSONMapping.Y": "json-y", "JSONMapping.X": "json-x", "JSONMapping.TS": "json-ts", "AR": "ar",
}

// jsonMapFlags map JSON records of another shape to samples
// (codec.JSONMapping).
type jsonMapFlags struct {
	y, ts string
	x     []string
}

func (j *jsonMapFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&j.y, "json-y", "", "read input values as JSON records with y at this dotted path, e.g. reading.temp (docs/formats.md)")
	fs.StringSliceVar(&j.x, "json-x", nil, "with --json-y: the paths of x, comma-separated, or one path of an array of numbers")
	fs.StringVar(&j.ts, "json-ts", "", "with --json-y: the path of the sample's time, an RFC 3339 string or unix milliseconds")
}

// apply sets cfg's mapping; its paths are cfg.Validate's to check.
func (j *jsonMapFlags) apply(cfg *processor.Config) {
	cfg.JSONMapping = codec.JSONMapping{Y: j.y, X: j.x, TS: j.ts}
}

// checkProcessor is cfg.Validate's error as a usage error naming the flag
// of the field.
func checkProcessor(cfg processor.Config) error {
	return flagError(cfg.Validate(), "processor", processorFlagNames)
}

// flagError is err, a library configuration's error, as a usage error; a
// *setting.Error of a field of pkg in flags names the field's flag instead.
func flagError(err error, pkg string, flags map[string]string) error {
	if err == nil {
		return nil
	}
	var se *setting.Error
	if errors.As(err, &se) && se.Pkg == pkg {
		if name, ok := flags[se.Field]; ok {
			return flagErr("--%s %v: want %s", name, se.Value, se.Want)
		}
	}
	return usageError{err}
}

// processorFlags are the flags of a processor's own settings (process,
// replay): its models, batches, largest dimension and state directory.
type processorFlags struct {
	models     modelFlags
	batch      batchFlags
	maxDim     int
	maxValue   string
	stateDir   string
	idleTTL    time.Duration
	tombstones string
	scores     scoreFlags
	// transactions is --transactions.
	transactions bool
	jsonMap      jsonMapFlags
	ar           int
}

func (p *processorFlags) register(fs *pflag.FlagSet) {
	p.models.register(fs)
	p.batch.register(fs)
	p.scores.register(fs)
	registerTransactions(fs, &p.transactions)
	p.jsonMap.register(fs)
	registerAR(fs, &p.ar)
	fs.IntVar(&p.maxDim, "max-dim", 0, fmt.Sprintf("largest dimension of a sensor (larger samples are dead-lettered), at most %d; 0: %d (docs/operations.md)",
		processor.DefaultMaxDim, processor.DefaultFleetMaxDim))
	fs.StringVar(&p.maxValue, "max-value-bytes", strings.ReplaceAll(humanize.IBytes(processor.DefaultMaxValueBytes), " ", ""),
		"largest input value, decompressed; a larger one is dead-lettered undecoded, reason too-large")
	fs.StringVar(&p.stateDir, "state-dir", "", "directory of this processor's local table copy (required; one per process)")
	fs.DurationVar(&p.idleTTL, "idle-ttl", 0, "delete a sensor's state once it has had no message for this long (needs batches); 0: keep every sensor")
	fs.StringVar(&p.tombstones, "tombstones", string(processor.TombstonesDeadLetter), "what an input message with a null value does: deadletter (reason tombstone) or delete (the sensor's state is deleted)")
}

// config is the processor of these flags (names, Kafka and the rest left to
// the caller).
func (p *processorFlags) config() (processor.Config, error) {
	specs, err := p.models.parse()
	if err != nil {
		return processor.Config{}, err
	}
	if err := requireStateDir(p.stateDir, "processor"); err != nil {
		return processor.Config{}, err
	}
	cfg := processor.Config{Learner: processor.RLS{Specs: specs}, StateDir: p.stateDir, MaxDim: p.maxDim,
		IdleTTL: p.idleTTL, Tombstones: processor.Tombstones(p.tombstones), NoTransactions: !p.transactions, AR: p.ar}
	p.jsonMap.apply(&cfg)
	if err := p.batch.apply(&cfg); err != nil {
		return cfg, err
	}
	n, err := humanize.ParseBytes(p.maxValue)
	if err != nil || n == 0 || n > math.MaxInt32 {
		return cfg, flagErr("--max-value-bytes %q: want a size from 1 byte to 2GiB, e.g. 1MiB", p.maxValue)
	}
	cfg.MaxValueBytes = int(n)
	if err := p.scores.apply(&cfg, specs); err != nil {
		return cfg, err
	}
	return cfg, checkProcessor(cfg)
}

// registerAR registers a processor's --ar.
func registerAR(fs *pflag.FlagSet, p *int) {
	fs.IntVar(p, "ar", 0, "autoregressive sensors: features are x (may be absent), the last P values of y and 1; 0: x alone")
}

// requireStateDir checks a role's required --state-dir.
func requireStateDir(dir, role string) error {
	if dir == "" {
		return flagErr("--state-dir is required: each %s needs its own directory", role)
	}
	return nil
}

// checkSensorMetrics checks --sensor-metrics.
func checkSensorMetrics(n int) error {
	if n < 0 {
		return flagErr("--sensor-metrics %d: want ≥ 0 (0: off)", n)
	}
	return nil
}

// checkProgress checks --progress.
func checkProgress(d time.Duration) error {
	if d <= 0 {
		return flagErr("--progress %v: want > 0", d)
	}
	return nil
}

// checkHistoryPoints checks --history-points.
func checkHistoryPoints(n int) error {
	if n < 2 {
		return flagErr("--history-points %d: want ≥ 2", n)
	}
	return nil
}

// snapshotFlags say when a processor publishes snapshots (process, run).
type snapshotFlags struct {
	every    uint64
	interval time.Duration
}

func (s *snapshotFlags) register(fs *pflag.FlagSet) {
	fs.Uint64Var(&s.every, "snapshot-every", 100, "publish a sensor's models to GROUP-snapshots each time its sample count crosses a multiple of this (0: not by count)")
	fs.DurationVar(&s.interval, "snapshot-interval", 10*time.Second, "with --snapshot-every 0: publish a sensor's models this long after its last snapshot if updated since; 0: not by time")
}

// policy is the snapshot policy of the flags; the processor checks it.
func (s *snapshotFlags) policy() processor.Snapshots {
	return processor.Snapshots{Every: s.every, Interval: s.interval}
}

// historyFlags are the view's history settings (serve).
type historyFlags struct {
	points    int
	maxBytes  string
	thetaStar string
}

func (h *historyFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&h.points, "history-points", history.DefaultPoints, "snapshots kept per sensor for the curves; when full, every second one is dropped")
	registerHistoryMaxBytes(fs, &h.maxBytes)
	fs.StringVar(&h.thetaStar, "theta-star", "", "the true coefficients θ*, comma-separated (e.g. 1,0,0,1): plots compare every sensor of that dimension with it")
}

// eventsFlags are the events kept and predict's intervals (serve).
type eventsFlags struct {
	perSensor int
	level     float64
}

func (e *eventsFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&e.perSensor, "events-per-sensor", history.DefaultEventsPerSensor, fmt.Sprintf(
		"latest anomaly and drift events kept per sensor in memory, at most %d per group; the most …/events?limit= answers",
		history.DefaultMaxEvents))
	fs.Float64Var(&e.level, "interval-level", rls.DefaultIntervalLevel, "coverage of the prediction intervals [lo, hi] that predict answers, in (0, 1)")
}

func (e *eventsFlags) config() (pipeline.Events, error) {
	if e.perSensor < 1 || e.perSensor > history.DefaultMaxEvents {
		return pipeline.Events{}, flagErr("--events-per-sensor %d: want 1..%d", e.perSensor, history.DefaultMaxEvents)
	}
	if !(e.level > 0 && e.level < 1) {
		return pipeline.Events{}, flagErr("--interval-level %v: want a number in (0, 1), e.g. 0.95", e.level)
	}
	return pipeline.Events{PerSensor: e.perSensor, IntervalLevel: e.level}, nil
}

// registerHistoryMaxBytes registers --history-max-bytes (serve, run).
func registerHistoryMaxBytes(fs *pflag.FlagSet, v *string) {
	fs.StringVar(v, "history-max-bytes", strings.ReplaceAll(humanize.IBytes(history.DefaultMaxBytes), " ", ""),
		"bound of the curves kept on disk in all; over it the least recently updated sensors' curves are thinned, then dropped")
}

// parseHistoryMaxBytes checks --history-max-bytes.
func parseHistoryMaxBytes(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > math.MaxInt64 {
		return 0, flagErr("--history-max-bytes %q: want a size of at least 1 byte, e.g. 512MiB", s)
	}
	return int64(n), nil
}

func (h *historyFlags) truth() (api.Truth, error) {
	if err := checkHistoryPoints(h.points); err != nil {
		return nil, err
	}
	if h.thetaStar == "" {
		return nil, nil
	}
	th, err := parseVector(h.thetaStar)
	if err != nil {
		return nil, flagErr("--theta-star %q: %v", h.thetaStar, err)
	}
	return api.ConstTruth(th), nil
}

func parseVector(s string) ([]float64, error) {
	var out []float64
	for i, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d %q is not a finite number", i+1, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func (e *emitFlags) parseDrift() (emitter.Drift, error) {
	d, err := emitter.ParseDrift(e.drift)
	if err != nil {
		return d, flagErr("--drift: %v", err)
	}
	return d, nil
}

const driftHelp = `how θ* moves per sensor: none, jump:N (θ* flips sign after N samples) or wander:SIGMA[:N] (a random walk)`

// alertFlags are where anomaly and drift alerts go (serve, run).
type alertFlags struct {
	alertmanager, webhook, secretFile, externalURL string
	labels                                         []string
}

func (a *alertFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.alertmanager, "alertmanager", "", "Alertmanager base URL: post anomaly episodes and drifts to its /api/v2/alerts")
	fs.StringVar(&a.webhook, "alert-webhook", "", "URL that gets the same alerts as a JSON array, signed (--alert-webhook-secret-file)")
	fs.StringVar(&a.secretFile, "alert-webhook-secret-file", "", "file of the key of --alert-webhook's HMAC-SHA256 (X-Streamrls-Signature)")
	fs.StringVar(&a.externalURL, "external-url", "", "base URL of this HTTP API as users reach it, for the alerts' links to sensor pages")
	fs.StringArrayVar(&a.labels, "alert-label", nil, "k=v label added to every alert; repeatable")
}

func (a *alertFlags) config() (alert.Config, error) {
	cfg := alert.Config{Alertmanager: a.alertmanager, Webhook: a.webhook, ExternalURL: a.externalURL}
	if a.webhook != "" {
		if a.secretFile == "" {
			return cfg, flagErr("--alert-webhook needs --alert-webhook-secret-file")
		}
		key, err := os.ReadFile(a.secretFile)
		if err != nil {
			return cfg, flagErr("--alert-webhook-secret-file: %v", err)
		}
		if cfg.WebhookSecret = bytes.TrimSpace(key); len(cfg.WebhookSecret) == 0 {
			return cfg, flagErr("--alert-webhook-secret-file %s: empty", a.secretFile)
		}
	}
	for _, l := range a.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return cfg, flagErr("--alert-label %q: want k=v", l)
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[k] = v
	}
	if cfg.Enabled() {
		if err := cfg.Validate(); err != nil {
			return cfg, usageError{err}
		}
	}
	return cfg, nil
}
