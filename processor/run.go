package processor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

// Config describes one processor process.
type Config struct {
	Names topology.Names
	Kafka kafkaconf.Kafka
	// Learner is what is learned per key. Required.
	Learner Learner
	// StateDir holds the local LevelDB copy of the group table. Each process
	// needs its own: Run refuses a dir another process holds.
	StateDir string
	// Partitions of the input topic when streamrls has to create it.
	// Default topology.DefaultPartitions. An existing topic keeps its count.
	Partitions int
	// MaxDim bounds a sensor's dimension. Default DefaultMaxDim.
	MaxDim int
	// CacheSize bounds the decoded sensor states kept in memory between
	// messages. Default DefaultCacheSize; negative: none.
	CacheSize int
	// Metrics to count into (nil: none).
	Metrics *Metrics
	// Log (nil: slog.Default()).
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before restarting after a
	// Kafka error. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Options are extra goka processor options (e.g. goka.WithHotStandby()).
	// A goka.WithRebalanceCallback here is replaced by the processor's own.
	Options []goka.ProcessorOption
	// OnStart is called with each new goka processor (tests, readiness).
	OnStart func(*goka.Processor)
	// Snapshots says when to publish sensors' snapshots to Names.Snapshots
	// (zero: never).
	Snapshots Snapshots
	// BatchInterval is how long a partition's batch collects messages
	// before every sensor it updated writes its state once (see batch.go).
	// Default DefaultBatchInterval (100ms); NoBatches writes every
	// message's state at once (--batch-interval 0).
	BatchInterval time.Duration
	// BatchMaxBytes ends a batch early once the states and outputs waiting
	// in it reach this size. Default DefaultBatchMaxBytes (64 MiB).
	BatchMaxBytes int
	// BatchMaxInterval is how long a batch may stay open while the
	// processor is behind its input (--batch-max-interval): it then grows
	// until it holds BatchDensity samples per sensor it updated, so that a
	// processor catching up over many sensors writes each state once per
	// several samples instead of once per sample; a batch whose partition
	// has at most half as many messages left to read as it holds stays
	// open until they are read, up to half as long again. A processor that
	// keeps up ends every batch at BatchInterval. Default
	// DefaultBatchMaxInterval (5s); a value ≤ BatchInterval turns growing
	// off.
	BatchMaxInterval time.Duration
	// BatchDensity is the samples per updated sensor a growing batch waits
	// for (--batch-density). Default DefaultBatchDensity (32); 1 turns
	// growing off.
	BatchDensity int
	// IdleTTL > 0 deletes a sensor's state (a tombstone on the table, so
	// views and exports forget it) once it has had no message for that
	// long (--idle-ttl). Needs batches. Default 0: sensors are kept.
	IdleTTL time.Duration
	// Tombstones says what an input message with a null value does
	// (--tombstones). Default TombstonesDeadLetter.
	Tombstones Tombstones
	// Scoring is what is published of every sample's scores: events on
	// Names.Events always, score records on Names.Scores with
	// Scoring.Publish (--scores). The tests are the Learner's.
	Scoring Scoring
}

// NoBatches as Config.BatchInterval writes every message's state at once.
const NoBatches time.Duration = -1

// NoBatchGrowth as Config.BatchMaxInterval keeps a catching-up batch to
// BatchInterval too (--batch-max-interval 0).
const NoBatchGrowth time.Duration = -1

// withDefaults fills the unset fields of a config about to run.
func (cfg Config) withDefaults() Config {
	cfg.Names = cfg.Names.WithDefaults()
	cfg.Kafka = cfg.Kafka.WithDefaults()
	if cfg.Partitions == 0 {
		cfg.Partitions = topology.DefaultPartitions
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
	if cfg.BatchMaxBytes <= 0 {
		cfg.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if cfg.BatchMaxInterval == 0 {
		cfg.BatchMaxInterval = DefaultBatchMaxInterval
	}
	if cfg.BatchDensity == 0 {
		cfg.BatchDensity = DefaultBatchDensity
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return cfg
}

// Run runs the processor until ctx ends, rebuilding it with backoff after
// any error: goka stops a processor on every Kafka error by design, and a
// broker that is down at start is waited for. It returns nil when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Learner == nil {
		return fmt.Errorf("processor: no learner (Config.Learner)")
	}
	if cfg.StateDir == "" {
		return fmt.Errorf("processor: no state dir (--state-dir)")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Names.Validate(); err != nil {
		return err
	}
	switch {
	case cfg.IdleTTL < 0:
		return fmt.Errorf("processor: idle TTL %v: want ≥ 0 (0: off)", cfg.IdleTTL)
	case cfg.IdleTTL > 0 && cfg.BatchInterval < 0:
		return fmt.Errorf("processor: an idle TTL (--idle-ttl %v) needs batches (--batch-interval > 0)", cfg.IdleTTL)
	case cfg.Tombstones != "" && cfg.Tombstones != TombstonesDeadLetter && cfg.Tombstones != TombstonesDelete:
		return fmt.Errorf("processor: tombstones %q: want %s or %s", cfg.Tombstones, TombstonesDeadLetter, TombstonesDelete)
	}
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
	if err := EnsureTopics(cfg.Kafka, cfg.Names, cfg.Partitions); err != nil {
		return err
	}
	h := &Handler{Names: cfg.Names, Learner: cfg.Learner, MaxDim: cfg.MaxDim, Metrics: cfg.Metrics, Log: log,
		Snapshots: cfg.Snapshots, CacheSize: cfg.CacheSize, Tombstones: cfg.Tombstones, Scoring: cfg.Scoring}
	stores := new(tablestore.Stores)
	var hooks []kafkaconf.GroupHook
	if cfg.BatchInterval > 0 {
		gate, claims := kafkaconf.NewCommitGate(), kafkaconf.NewClaims()
		hooks = append(hooks, gate, claims)
		prod, err := cfg.Kafka.BatchProducer("streamrls-batches-" + cfg.Names.Group)
		if err != nil {
			return err
		}
		h.batches = &batchWriter{table: cfg.Names.Table(), producer: prod, stores: stores, counts: h.counts(),
			codec: TableCodec{Learner: cfg.Learner}, gate: gate, ends: claims, interval: cfg.BatchInterval, maxBytes: cfg.BatchMaxBytes,
			maxInterval: cfg.BatchMaxInterval, density: cfg.BatchDensity,
			metrics: cfg.Metrics, log: log, idleTTL: cfg.IdleTTL, now: h.now, forget: h.cache.dropPartition}
		defer func() {
			// Every partition's last batch is written before goka's
			// processor returns; the goroutines only remain to be reaped.
			h.batches.wait()
			prod.Close()
		}()
	}
	graph := cfg.Names.Graph(new(codec.Bytes), TableCodec{Learner: cfg.Learner}, new(codec.Bytes), h.Process)
	opts, err := cfg.Kafka.ProcessorOptions(hooks...)
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
	log.Info("processor starting", "brokers", strings.Join(cfg.Kafka.Brokers, ","), "state_dir", cfg.StateDir)
	return explain(p.Run(ctx), cfg)
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

// explain adds what to do to errors a user can fix.
func explain(err error, cfg Config) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "delete your local cache") || strings.Contains(err.Error(), "local offset is higher") {
		return fmt.Errorf("%w\nthe local state in %s is newer than the table topic %s on the broker (the broker's data was wiped or the topic recreated): delete %s and restart; the state is rebuilt from the topic",
			err, cfg.StateDir, cfg.Names.Table(), cfg.StateDir)
	}
	return err
}

// localCopyOptions are the processor's settings of its local table copies.
// The copy is a cache of the changelog (tablestore.StorageBuilder), and a
// batch's states are on the changelog before its input is committed, so
// the copy is written back at the pace of catching-up batches rather than
// every 200 ms: a batch hands its states over without waiting for LevelDB
// (its MaxPending holds a whole batch, BatchMaxBytes), the states of
// sensors written again within the interval reach LevelDB once, and the
// copy of the last batch before a pause is written while the processor
// waits. After a crash the copy is then up to about DefaultBatchMaxInterval
// behind, caught up from the changelog at the next start. The total bound
// keeps the states waiting at the decoded-state cache's default size, or
// one batch if that is larger, whatever the partition count. cfg has its
// defaults.
func localCopyOptions(cfg Config, log *slog.Logger) tablestore.StorageOptions {
	return tablestore.StorageOptions{Log: log, FlushInterval: DefaultBatchMaxInterval,
		MaxPending: cfg.BatchMaxBytes, MaxPendingTotal: max(DefaultCacheBytes, cfg.BatchMaxBytes)}
}
