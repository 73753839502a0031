package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/setting"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

// Config describes one processor process. The zero value of every field is
// its default; a setting that turns something off is a field of its own.
type Config struct {
	// Names are the topics and the group. Unset names take their defaults
	// (topology.Names.WithDefaults).
	Names topology.Names
	// Kafka is the client configuration. Unset fields take their defaults
	// (kafkaconf.Kafka.WithDefaults).
	Kafka kafkaconf.Kafka
	// Learner is what is learned per key. Required.
	Learner Learner
	// StateDir holds the local LevelDB copy of the group table. Required.
	// Each process needs its own: Run refuses a dir another process holds.
	StateDir string
	// Partitions of the input topic when streamrls has to create it, and of
	// the topics it creates with it. Default topology.DefaultPartitions. An
	// existing topic keeps its count.
	Partitions int
	// MaxDim bounds a sensor's dimension: a larger sample is dead-lettered.
	// At most DefaultMaxDim. Default DefaultFleetMaxDim, or MaxDimFor(Learner)
	// where that is smaller (the largest whose state fits in one table
	// record), so that a junk key costs the table a bounded state and every
	// accepted sensor can be written.
	MaxDim int
	// MaxValueBytes bounds an input value as the processor receives it
	// (decompressed): a larger one is dead-lettered, reason ReasonTooLarge,
	// before it is decoded. Default DefaultMaxValueBytes.
	MaxValueBytes int
	// CacheSize bounds the decoded sensor states kept in memory between
	// messages, which saves decoding a state at each of its messages.
	// Default DefaultCacheSize.
	CacheSize int
	// Metrics to count into. Default none.
	Metrics *Metrics
	// Log receives the processor's logs. Default slog.Default().
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before restarting after a
	// Kafka error: goka stops a processor at each one, and a restart that
	// fails at once waits twice as long as the previous one. Defaults
	// 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Options are extra goka processor options (e.g. goka.WithHotStandby()).
	// A goka.WithRebalanceCallback here is replaced by the processor's own,
	// which must drop the state cache. Default none.
	Options []goka.ProcessorOption
	// OnStart is called with each new goka processor (tests, readiness).
	// Default none.
	OnStart func(*goka.Processor)
	// Snapshots says when to publish sensors' snapshots to Names.Snapshots.
	// Default none: snapshots are for followers that draw curves, which a
	// processor need not feed.
	Snapshots Snapshots
	// BatchInterval is how long a partition's batch collects messages
	// before every sensor it updated writes its state once (see batch.go):
	// a state write waits up to this long, and a sensor is written once per
	// interval however many messages it had. Default DefaultBatchInterval.
	BatchInterval time.Duration
	// NoBatches writes every message's state at once, with goka committing
	// each message's offset: one state write per message, and the
	// batch settings are not used. Default false.
	NoBatches bool
	// BatchMaxBytes ends a batch early once the states and outputs waiting
	// in it reach this size, which bounds a batch's memory. Default
	// DefaultBatchMaxBytes.
	BatchMaxBytes int
	// BatchMaxInterval is how long a batch may stay open while the
	// processor is behind its input. A processor that keeps up ends every
	// batch at BatchInterval; one that is catching up over many sensors
	// would write each state once per sample or two, so its batch grows
	// until it holds BatchDensity samples per sensor it updated
	// (docs/operations.md, Settings). A value ≤ BatchInterval, like
	// NoBatchGrowth, keeps every batch to BatchInterval. Default
	// DefaultBatchMaxInterval.
	BatchMaxInterval time.Duration
	// NoTransactions writes batches without Kafka transactions: a batch's
	// records are produced, and its input offsets committed by goka once
	// they are acknowledged. Not safe against zombies: a processor paused
	// past its session timeout (GC, a frozen VM, SIGSTOP) may write the
	// states it held after another took its partitions over. For brokers
	// that forbid transactions. NoBatches writes without transactions
	// anyway. Default false: each batch is one transaction
	// (exactlyonce.Transactions).
	NoTransactions bool
	// NoBatchGrowth keeps a catching-up batch to BatchInterval too.
	// Default false.
	NoBatchGrowth bool
	// BatchDensity is the samples per updated sensor a growing batch waits
	// for: the number of samples a catching-up processor applies per state
	// write. 1 keeps every batch to BatchInterval. Default
	// DefaultBatchDensity.
	BatchDensity int
	// IdleTTL deletes a sensor's state (a tombstone on the table, so views
	// and exports forget it) once it has had no message for that long,
	// so that the table does not keep sensors that are gone. Needs
	// batches. At least MinIdleTTL. Default none: sensors are kept.
	IdleTTL time.Duration
	// Tombstones says what an input message with a null value does.
	// Default TombstonesDeadLetter: a null value is kept for inspection
	// rather than deleting a sensor by accident.
	Tombstones Tombstones
	// Scoring is what is published of every sample's scores: events on
	// Names.Events always, score records on Names.Scores with
	// Scoring.Publish. The tests are the Learner's. Default: events only.
	Scoring Scoring
	// JSONMapping, when set, reads every input value as a JSON record of
	// any shape, its sample at the mapping's paths (codec.JSONMapping); a
	// record that lacks a path is dead-lettered, reason ReasonDecode,
	// naming it. Default none: the sample formats of package codec.
	JSONMapping codec.JSONMapping
	// AR, when positive, makes every sensor autoregressive of order AR:
	// its features are the sample's own x (which may be absent), its last
	// AR values of y and a constant 1 (see Handler.AR). Default 0: x alone.
	AR int
	// Health is told when the processor stops, when a rebuilt one runs
	// and what it reads and writes, for a liveness probe (NewHealth).
	// Default none.
	Health *Health
}

// withDefaults fills the unset fields of a config about to run.
func (cfg Config) withDefaults() Config {
	cfg.Names = cfg.Names.WithDefaults()
	cfg.Kafka = cfg.Kafka.WithDefaults()
	if cfg.Partitions == 0 {
		cfg.Partitions = topology.DefaultPartitions
	}
	if cfg.MaxDim == 0 && cfg.Learner != nil {
		cfg.MaxDim = min(DefaultFleetMaxDim, MaxDimFor(cfg.Learner))
	}
	if cfg.MaxValueBytes == 0 {
		cfg.MaxValueBytes = DefaultMaxValueBytes
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.BatchInterval == 0 {
		cfg.BatchInterval = DefaultBatchInterval
	}
	if cfg.BatchMaxBytes == 0 {
		cfg.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if cfg.BatchMaxInterval == 0 {
		cfg.BatchMaxInterval = DefaultBatchMaxInterval
	}
	if cfg.NoBatchGrowth {
		cfg.BatchMaxInterval = cfg.BatchInterval
	}
	if cfg.BatchDensity == 0 {
		cfg.BatchDensity = DefaultBatchDensity
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return cfg
}

// MinIdleTTL is the shortest Config.IdleTTL: a partition looks for idle
// sensors at most once a second (sweepEvery), so a shorter TTL could not be
// kept, and it would delete the state of a sensor that reports every second
// between two of its samples.
const MinIdleTTL = time.Second

// Validate reports the first setting of cfg that Run cannot use, as a
// *setting.Error naming its field. Learner and StateDir, which Run also
// requires, are not checked, so that a part of a configuration can be
// validated alone.
func (cfg Config) Validate() error {
	const pkg = "processor"
	switch {
	case cfg.Partitions < 0:
		return setting.Errorf(pkg, "Partitions", cfg.Partitions, "≥ 1")
	case cfg.AR < 0 || cfg.AR > codec.MaxLagOrder:
		return setting.Errorf(pkg, "AR", cfg.AR, "0..%d", codec.MaxLagOrder)
	case cfg.AR > 0 && !cfg.JSONMapping.IsZero():
		return setting.Errorf(pkg, "AR", cfg.AR, "0 with a JSONMapping")
	case cfg.MaxDim < 0 || cfg.MaxDim > DefaultMaxDim:
		return setting.Errorf(pkg, "MaxDim", cfg.MaxDim, "1..%d", DefaultMaxDim)
	case cfg.MaxValueBytes < 0 || cfg.MaxValueBytes > math.MaxInt32:
		return setting.Errorf(pkg, "MaxValueBytes", cfg.MaxValueBytes, "a size from 1 byte to 2GiB")
	case cfg.CacheSize < 0:
		return setting.Errorf(pkg, "CacheSize", cfg.CacheSize, "≥ 0")
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < 0:
		return setting.Errorf(pkg, "MinBackoff, MaxBackoff", fmt.Sprint(cfg.MinBackoff, ", ", cfg.MaxBackoff), "≥ 0")
	case cfg.BatchInterval < 0:
		return setting.Errorf(pkg, "BatchInterval", cfg.BatchInterval, "≥ 0")
	case cfg.BatchMaxBytes < 0 || cfg.BatchMaxBytes > math.MaxInt32:
		return setting.Errorf(pkg, "BatchMaxBytes", cfg.BatchMaxBytes, "a size from 1 byte to 2GiB")
	case cfg.BatchMaxInterval < 0:
		return setting.Errorf(pkg, "BatchMaxInterval", cfg.BatchMaxInterval, "≥ 0")
	case cfg.BatchDensity < 0:
		return setting.Errorf(pkg, "BatchDensity", cfg.BatchDensity, "≥ 1")
	case cfg.IdleTTL < 0 || cfg.IdleTTL > 0 && cfg.IdleTTL < MinIdleTTL:
		return setting.Errorf(pkg, "IdleTTL", cfg.IdleTTL, "0 (keep every sensor) or at least %v", MinIdleTTL)
	case cfg.IdleTTL > 0 && cfg.NoBatches:
		return setting.Errorf(pkg, "IdleTTL", cfg.IdleTTL, "0 without batches (a batch deletes the idle sensors)")
	case cfg.Snapshots.Interval < 0:
		return setting.Errorf(pkg, "Snapshots.Interval", cfg.Snapshots.Interval, "≥ 0")
	case cfg.Tombstones != "" && cfg.Tombstones != TombstonesDeadLetter && cfg.Tombstones != TombstonesDelete:
		return setting.Errorf(pkg, "Tombstones", fmt.Sprintf("%q", cfg.Tombstones), "%s or %s", TombstonesDeadLetter, TombstonesDelete)
	}
	if _, err := cfg.jsonMap(); err != nil {
		return err
	}
	return cfg.Names.WithDefaults().Validate()
}

// jsonMap is the compiled JSONMapping, nil when it maps nothing.
func (cfg Config) jsonMap() (*codec.JSONMap, error) {
	if cfg.JSONMapping.IsZero() {
		return nil, nil
	}
	jm, err := cfg.JSONMapping.Compile()
	var me *codec.MappingError
	if errors.As(err, &me) {
		return nil, setting.Errorf("processor", "JSONMapping."+me.Field, fmt.Sprintf("%q", me.Path), "%s", me.Want)
	}
	return jm, err
}

// Run runs the processor until ctx ends, rebuilding it with backoff after
// any error: goka stops a processor on every Kafka error by design, and a
// broker that is down at start is waited for. It returns nil when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Learner == nil {
		return errors.New("processor: no learner (Config.Learner)")
	}
	if cfg.StateDir == "" {
		return errors.New("processor: no state dir (Config.StateDir)")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	log := cfg.Log.With("group", cfg.Names.Group, "topic", cfg.Names.Input)
	release, err := tablestore.LockDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer release()

	if err := checkBank(ctx, cfg, log); err != nil {
		return err
	}
	backoff := cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		// Refused credentials are not transient: stop instead of retrying
		// forever (a broker that is down is waited for).
		if err := cfg.Kafka.CheckAuth(ctx); kafkaconf.IsAuthError(err) {
			return err
		}
		started := time.Now()
		err := runOnce(ctx, cfg, log)
		if ctx.Err() != nil {
			return nil
		}
		if kafkaconf.IsAuthError(err) {
			return err
		}
		if err == nil {
			err = errors.New("goka's processor stopped without an error")
		}
		cfg.Health.stopped(err)
		if time.Since(started) > time.Minute {
			backoff = cfg.MinBackoff // it ran for a while: this is a new failure
		}
		log.Error("processor stopped; restarting", "attempt", attempt, "in", backoff, "err", err)
		if cfg.Metrics != nil {
			cfg.Metrics.Restarts.Add(1)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
}

func runOnce(ctx context.Context, cfg Config, log *slog.Logger) error {
	// A local table copy that fails, even in a background write that no
	// callback would see until its next one, stops the processor: it is
	// rebuilt with a copy opened afresh (tablestore.StorageOptions.Timeout).
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if err := EnsureTopics(cfg.Kafka, cfg.Names, cfg.Partitions); err != nil {
		return err
	}
	mapping, err := cfg.jsonMap()
	if err != nil {
		return err
	}
	h := &Handler{Names: cfg.Names, Learner: cfg.Learner, MaxDim: cfg.MaxDim, MaxValueBytes: cfg.MaxValueBytes,
		Metrics: cfg.Metrics, Log: log, Snapshots: cfg.Snapshots, CacheSize: cfg.CacheSize, Tombstones: cfg.Tombstones,
		Scoring: cfg.Scoring, Mapping: mapping, AR: cfg.AR, health: cfg.Health}
	stores := new(tablestore.Stores)
	var hooks []exactlyonce.GroupHook
	if !cfg.NoBatches {
		claims := exactlyonce.NewClaims()
		h.batches = &batchWriter{table: cfg.Names.Table(), stores: stores, counts: h.counts(),
			codec: TableCodec{Learner: cfg.Learner}, ends: claims, interval: cfg.BatchInterval, maxBytes: cfg.BatchMaxBytes,
			maxInterval: cfg.BatchMaxInterval, density: cfg.BatchDensity,
			metrics: cfg.Metrics, log: log, idleTTL: cfg.IdleTTL, now: h.now, forget: h.cache.dropPartition,
			health: cfg.Health}
		var closeWriter func()
		if cfg.NoTransactions {
			prod, err := exactlyonce.NewBatchProducer(cfg.Kafka, "streamrls-batches-"+cfg.Names.Group)
			if err != nil {
				return err
			}
			h.batches.producer, closeWriter = prod, func() { prod.Close() }
			// The gate is only for goka's marks, which the transactions
			// drop.
			h.batches.gate = exactlyonce.NewCommitGate()
			hooks = append(hooks, h.batches.gate)
		} else {
			txns := exactlyonce.NewTransactions(cfg.Kafka, cfg.Names.Group, log)
			hooks = append(hooks, txns)
			h.batches.txns, closeWriter = txns, txns.Close
		}
		hooks = append(hooks, claims)
		defer func() {
			// Every partition's last batch is written before goka's
			// processor returns; the goroutines only remain to be reaped.
			h.batches.wait()
			closeWriter()
		}()
	}
	graph := cfg.Names.Graph(new(codec.Bytes), TableCodec{Learner: cfg.Learner}, new(codec.Bytes), h.Process)
	opts, err := exactlyonce.ProcessorOptions(cfg.Kafka, hooks...)
	if err != nil {
		return err
	}
	// The local copy is checked against the table topic as each partition
	// opens it (tablestore.Origin).
	client, admin, err := cfg.Kafka.Admin("streamrls-origin-" + cfg.Names.Group)
	if err != nil {
		return err
	}
	defer admin.Close()
	local := localCopyOptions(cfg, log)
	local.Origin = tablestore.KafkaOrigin(client)
	local.OnFail = func(err error) {
		cfg.Health.stopped(err)
		stop(err)
	}
	opts = append(opts,
		goka.WithStorageBuilder(stores.Track(tablestore.StorageBuilderWith(cfg.StateDir, local))),
		goka.WithLogger(kafkaconf.GokaLogger(log)),
		// A null value reaches the callback, which dead-letters it; goka
		// would drop it silently.
		goka.WithNilHandling(goka.NilProcess),
	)
	opts = append(opts, cfg.Options...)
	// Last, so that it is not replaced: the state cache must be dropped at
	// every rebalance.
	opts = append(opts, goka.WithRebalanceCallback(h.Rebalanced))
	p, err := goka.NewProcessor(cfg.Kafka.Brokers, graph, opts...)
	if err != nil {
		return fmt.Errorf("build processor: %w", err)
	}
	if cfg.Metrics != nil {
		detach, err := cfg.Metrics.attach(p, cfg.Kafka, cfg.Names, log)
		if err != nil {
			return err
		}
		defer detach()
	}
	if cfg.OnStart != nil {
		cfg.OnStart(p)
	}
	if cfg.Health != nil {
		go func() {
			if p.WaitForReadyContext(ctx) == nil && p.Recovered() {
				cfg.Health.running()
			}
		}()
	}
	log.Info("processor starting", "brokers", strings.Join(cfg.Kafka.Brokers, ","), "state_dir", cfg.StateDir)
	err = p.Run(ctx)
	if cause := context.Cause(ctx); err == nil && ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a local table copy failed
	}
	return err
}

// EnsureTopics creates the input, dead-letter, snapshots, scores and events
// streams and the group table if they are missing (the scores topic too,
// although only --scores writes to it: a consumer can subscribe before), the table with the input's partition
// count (as goka would), all with a max.message.bytes that holds the
// largest state and dead letter (kafkaconf.TopicMaxMessageBytes).
func EnsureTopics(k kafkaconf.Kafka, names topology.Names, partitions int) error {
	names = names.WithDefaults()
	tm, err := k.TopicManager()
	if err != nil {
		return err
	}
	defer tm.Close()
	n, err := k.EnsureStream(tm, names.Input, partitions)
	if err != nil {
		return err
	}
	for _, topic := range []string{names.DeadLetter, names.Snapshots, names.Scores, names.Events} {
		if _, err := k.ForSnapshots(topic == names.Snapshots).EnsureStream(tm, topic, n); err != nil {
			return err
		}
	}
	return k.EnsureTable(tm, names.Table(), n)
}

// localCopyOptions are the processor's settings of its local table copies.
// The copy is a cache of the changelog (tablestore.StorageBuilder), and a
// batch's states are on the changelog before its input is committed, so
// the copy is written back at the pace of catching-up batches: a batch
// hands its states over without waiting for LevelDB (its MaxPending holds a
// whole batch, BatchMaxBytes), the states of sensors written again within
// the interval reach LevelDB once, and the copy of the last batch before a
// pause is written while the processor waits. After a crash the copy is
// then up to about DefaultBatchMaxInterval behind, caught up from the
// changelog at the next start. The total bound keeps the states waiting at
// the decoded-state cache's default size, or one batch if that is larger,
// whatever the partition count. cfg has its defaults.
func localCopyOptions(cfg Config, log *slog.Logger) tablestore.StorageOptions {
	return tablestore.StorageOptions{Log: log, FlushInterval: DefaultBatchMaxInterval,
		MaxPending: cfg.BatchMaxBytes, MaxPendingTotal: max(DefaultCacheBytes, cfg.BatchMaxBytes)}
}
