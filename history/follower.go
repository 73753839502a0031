package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

// FollowerConfig describes the follower of one group's snapshots.
type FollowerConfig struct {
	// Group whose snapshots are followed. Required.
	Group string
	// Topic of the snapshots. Default the group's
	// (topology.Names.Snapshots).
	Topic string
	// Kafka is the client configuration. Unset fields take their defaults
	// (kafkaconf.Kafka.WithDefaults).
	Kafka kafkaconf.Kafka
	// Points kept per sensor; older points are thinned out by halving, so
	// the whole curve stays visible. Default DefaultPoints.
	Points int
	// Dir keeps the curves and the offsets read (a LevelDB), so that a
	// restart reads only what is new. Default none: in memory, and the
	// topic is read from its start.
	Dir string
	// MaxBytes bounds the curves kept in all; the sensors updated least
	// recently have theirs thinned, then dropped, first (see Store).
	// Default DefaultMaxBytes.
	MaxBytes int64
	// Log receives the follower's logs. Default slog.Default().
	Log *slog.Logger
}

// Follower follows a group's snapshots topic with a plain sarama consumer of
// every partition (goka views read tables, not streams), from the offsets
// its Store recorded (the oldest message the first time), and keeps each
// sensor's learning curve in the Store. It is ready once it has read every
// partition up to its end offset as of its start.
type Follower struct {
	*tail
	store *Store
}

// offsetSink is where a tail keeps what it reads and the offsets read.
type offsetSink interface {
	Offsets() map[int32]int64 // next offset of each partition read
	Record(partition int32, next int64)
	Flush() error
	Close() error
}

// keptSink is a sink kept across restarts: it belongs to one cluster and
// topic, and is reset when the broker's is another.
type keptSink interface {
	Origin() tablestore.Origin
	SetOrigin(tablestore.Origin) error
	Reset() error
}

// tail reads a topic of JSON records keyed by sensor ID into a sink: the
// part the snapshots and the events followers share.
type tail struct {
	group, topic, what string // what: the records, for logs and errors
	kafka              kafkaconf.Kafka
	sink               offsetSink
	add                func(key, value []byte) error // nil error: kept
	log                *slog.Logger
	msgs               atomic.Int64
	badMsgs            atomic.Int64

	mu    sync.Mutex
	ends  map[int32]int64 // end offsets at start; nil: not known yet
	ready bool
}

// NewFollower returns a follower, opening its store; Run fills it and
// closes it.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Group == "" {
		return nil, errors.New("history: no group (FollowerConfig.Group)")
	}
	if cfg.Topic == "" {
		cfg.Topic = topology.Names{Group: cfg.Group}.WithDefaults().Snapshots
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Kafka = cfg.Kafka.WithDefaults()
	var st *Store
	if cfg.Dir == "" {
		st = NewStore(cfg.Points)
		st.maxBytes = DefaultMaxBytes
		if cfg.MaxBytes > 0 {
			st.maxBytes = cfg.MaxBytes
		}
	} else {
		var err error
		if st, err = OpenStore(cfg.Dir, cfg.Points, cfg.MaxBytes); err != nil {
			return nil, err
		}
	}
	h := &Follower{store: st}
	h.tail = &tail{group: cfg.Group, topic: cfg.Topic, what: "snapshots", kafka: cfg.Kafka, sink: st,
		log: cfg.Log.With("group", cfg.Group, "topic", cfg.Topic),
		add: func(key, value []byte) error {
			s, err := DecodeSnapshot(key, value)
			if err == nil {
				st.Add(s)
			}
			return err
		}}
	return h, nil
}

// Ready says whether the follower has read the snapshots topic up to its
// end offsets as of its start (or found no such topic).
func (h *tail) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.readyLocked()
}

func (h *tail) readyLocked() bool {
	if h.ready || h.ends == nil {
		return h.ready
	}
	next := h.sink.Offsets()
	for p, end := range h.ends {
		if next[p] < end {
			return false
		}
	}
	h.ready = true
	return true
}

// State is "ready", "catching-up" (reading up to the end offsets as of its
// start) or "connecting" (end offsets not known yet), for /readyz.
func (h *tail) State() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.readyLocked():
		return "ready"
	case h.ends != nil:
		return "catching-up"
	}
	return "connecting"
}

// setEnds records the end offsets at start (the first time only); oldest
// is each partition's oldest offset, so that an empty one is caught up.
func (h *tail) setEnds(ends, oldest map[int32]int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ends != nil {
		return
	}
	for p, end := range ends {
		if oldest[p] >= end {
			delete(ends, p)
		}
	}
	h.ends = ends
}

// Group is the group whose records this follower follows.
func (h *tail) Group() string { return h.group }

// Store is the follower's store.
func (h *Follower) Store() *Store { return h.store }

// Messages is the number of messages read so far.
func (h *tail) Messages() int64 { return h.msgs.Load() }

// Dropped is the number of messages read so far and dropped: not a
// record of the topic, or not one of the sensor its key names (see DecodeSnapshot).
func (h *tail) Dropped() int64 { return h.badMsgs.Load() }

// Run reads the topic until ctx ends, waiting for the topic to be created
// and reconnecting after errors, each partition from where it was; then it
// closes the store.
func (h *tail) Run(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, h.sink.Close()) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	flushed := make(chan error, 1)
	go func() {
		err := h.flushEvery(ctx, 100*time.Millisecond)
		if err != nil {
			cancel()
		}
		flushed <- err
	}()
	defer func() {
		cancel()
		err = <-flushed
	}()
	backoff := 250 * time.Millisecond
	for {
		err := h.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			// No topic: nothing to load.
			h.setEnds(map[int32]int64{}, nil)
		}
		h.log.Debug(h.what+" consumer stopped; retrying", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// flushEvery writes the store's pending records every d, so that the
// offsets stored stay close to those read; it ends with ctx or the store's
// first error.
func (h *tail) flushEvery(ctx context.Context, d time.Duration) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := h.sink.Flush(); err != nil {
				return fmt.Errorf("%s of group %s: %w", h.what, h.group, err)
			}
		}
	}
}

// checkKept resets a kept sink read from another cluster or topic (a
// recorded ID differs, or it has read past a partition's end: the topic was
// wiped or made again), with one log line saying why, so that what it kept
// is not served as this topic's; then it records the broker's identity.
func (h *tail) checkKept(client sarama.Client, kept keptSink, ends map[int32]int64) error {
	found, err := tablestore.KafkaIdentity(client, h.topic)
	if err != nil {
		return err
	}
	recorded := kept.Origin()
	why := recorded.Mismatch(found, h.topic)
	for p, next := range h.sink.Offsets() {
		if end, ok := ends[p]; why == "" && ok && next > end {
			why = fmt.Sprintf("partition %d read up to offset %d, the broker's %s ends at %d", p, next, h.topic, end)
		}
	}
	if why != "" {
		h.log.Error("the kept "+h.what+" do not belong to the topic: dropped, reading it again", "reason", why)
		if err := kept.Reset(); err != nil {
			return err
		}
		recorded = tablestore.Origin{}
	}
	if o, changed := recorded.Merge(found); changed {
		return kept.SetOrigin(o)
	}
	return nil
}

// endOffsets returns each partition's end, the offset after its newest
// committed record (kafkaconf.Kafka.EndOf: the processor writes these
// topics in transactions), and its oldest offset.
func endOffsets(ctx context.Context, k kafkaconf.Kafka, client sarama.Client, topic string, parts []int32) (ends, oldest map[int32]int64, err error) {
	ends, oldest = map[int32]int64{}, map[int32]int64{}
	for _, p := range parts {
		if ends[p], oldest[p], err = k.EndOf(ctx, client.GetOffset, topic, p); err != nil {
			return nil, nil, err
		}
	}
	return ends, oldest, nil
}

func (h *tail) consume(ctx context.Context) error {
	cfg, err := h.kafka.Sarama()
	if err != nil {
		return err
	}
	cfg.ClientID = "streamrls-history"
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(h.kafka.Brokers, cfg)
	if err != nil {
		return fmt.Errorf(h.what+" %s: %w", h.topic, err)
	}
	defer client.Close()
	// A missing topic is known from the client's first metadata at once,
	// where Partitions would retry its refresh for a second or more.
	if topics, err := client.Topics(); err == nil && cfg.Metadata.Full && !slices.Contains(topics, h.topic) {
		return fmt.Errorf(h.what+" %s: %w", h.topic, sarama.ErrUnknownTopicOrPartition)
	}
	parts, err := client.Partitions(h.topic)
	if err != nil {
		return fmt.Errorf(h.what+" %s: %w", h.topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf(h.what+" %s: no partitions", h.topic)
	}
	ends, oldest, err := endOffsets(ctx, h.kafka, client, h.topic, parts)
	if err != nil {
		return fmt.Errorf(h.what+" %s: %w", h.topic, err)
	}
	if kept, ok := h.sink.(keptSink); ok {
		if err := h.checkKept(client, kept, ends); err != nil {
			return fmt.Errorf(h.what+" %s: %w", h.topic, err)
		}
	}
	h.setEnds(ends, oldest)
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf(h.what+" %s: %w", h.topic, err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	stopped := make(chan error, len(parts))
	next := h.sink.Offsets()
	for _, p := range parts {
		off, ok := next[p]
		if !ok || off < oldest[p] || off > ends[p] {
			// Never read, deleted by retention, or a topic made again.
			off = sarama.OffsetOldest
		}
		pc, err := consumer.ConsumePartition(h.topic, p, off)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf(h.what+" %s partition %d offset %d: %w", h.topic, p, off, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case err, ok := <-pc.Errors():
					if ok {
						stopped <- fmt.Errorf(h.what+" %s partition %d: %w", h.topic, p, err)
					}
					return
				case m, ok := <-pc.Messages():
					if !ok {
						stopped <- fmt.Errorf(h.what+" %s partition %d: consumer closed", h.topic, p)
						return
					}
					h.take(m)
					h.sink.Record(p, m.Offset+1)
				}
			}
		}()
	}
	h.log.Debug("following "+h.what, "partitions", len(parts), "from", next)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-stopped:
	}
	cancel()
	wg.Wait()
	return err
}

func (h *tail) take(m *sarama.ConsumerMessage) {
	h.msgs.Add(1)
	if err := h.add(m.Key, m.Value); err != nil {
		if n := h.badMsgs.Add(1); n <= 10 || n&(n-1) == 0 {
			h.log.Warn("dropping a message of "+h.what, "partition", m.Partition, "offset", m.Offset, "dropped", n, "err", err)
		}
	}
}
