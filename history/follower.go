package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/topology"
)

// FollowerConfig describes the follower of one group's snapshots.
type FollowerConfig struct {
	Group string
	Topic string // default topology.Names{Group: Group}.WithDefaults().Snapshots
	Kafka kafkaconf.Kafka
	// Points kept per sensor (default DefaultPoints); older points
	// are thinned out by halving, so the whole curve stays visible.
	Points int
	Log    *slog.Logger
}

// Follower follows a group's snapshots topic from its oldest message with a
// plain sarama consumer of every partition (goka views read tables, not
// streams) and keeps each sensor's learning curve in a Store.
type Follower struct {
	cfg     FollowerConfig
	store   *Store
	log     *slog.Logger
	msgs    atomic.Int64
	badMsgs atomic.Int64
}

// NewFollower returns a follower; Run fills its store.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Group == "" {
		return nil, errors.New("history: empty group (--group)")
	}
	if cfg.Topic == "" {
		cfg.Topic = topology.Names{Group: cfg.Group}.WithDefaults().Snapshots
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Kafka = cfg.Kafka.WithDefaults()
	return &Follower{cfg: cfg, store: NewStore(cfg.Points), log: cfg.Log.With("group", cfg.Group, "topic", cfg.Topic)}, nil
}

// Group is the group whose snapshots this follower follows.
func (h *Follower) Group() string { return h.cfg.Group }

// Store is the follower's store.
func (h *Follower) Store() *Store { return h.store }

// Messages is the number of snapshot messages read so far.
func (h *Follower) Messages() int64 { return h.msgs.Load() }

// Dropped is the number of snapshot messages read so far and dropped: not
// a snapshot, or not one of the sensor its key names (see Decode).
func (h *Follower) Dropped() int64 { return h.badMsgs.Load() }

// Run reads the snapshots topic until ctx ends, waiting for the topic to be
// created and reconnecting after errors, each partition from where it was.
func (h *Follower) Run(ctx context.Context) error {
	next := map[int32]int64{}
	backoff := 250 * time.Millisecond
	for {
		err := h.consume(ctx, next)
		if ctx.Err() != nil {
			return nil
		}
		h.log.Debug("snapshots consumer stopped; retrying", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (h *Follower) consume(ctx context.Context, next map[int32]int64) error {
	cfg, err := h.cfg.Kafka.Sarama()
	if err != nil {
		return err
	}
	cfg.ClientID = "streamrls-history"
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(h.cfg.Kafka.Brokers, cfg)
	if err != nil {
		return fmt.Errorf("snapshots %s: %w", h.cfg.Topic, err)
	}
	defer client.Close()
	parts, err := client.Partitions(h.cfg.Topic)
	if err != nil {
		return fmt.Errorf("snapshots %s: %w", h.cfg.Topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("snapshots %s: no partitions", h.cfg.Topic)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("snapshots %s: %w", h.cfg.Topic, err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopped := make(chan error, len(parts))
	for _, p := range parts {
		off, ok := next[p]
		if !ok {
			off = sarama.OffsetOldest
		}
		pc, err := consumer.ConsumePartition(h.cfg.Topic, p, off)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("snapshots %s partition %d offset %d: %w", h.cfg.Topic, p, off, err)
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
						stopped <- fmt.Errorf("snapshots %s partition %d: %w", h.cfg.Topic, p, err)
					}
					return
				case m, ok := <-pc.Messages():
					if !ok {
						stopped <- fmt.Errorf("snapshots %s partition %d: consumer closed", h.cfg.Topic, p)
						return
					}
					h.add(m)
					mu.Lock()
					next[p] = m.Offset + 1
					mu.Unlock()
				}
			}
		}()
	}
	h.log.Debug("following snapshots", "partitions", len(parts))
	select {
	case <-ctx.Done():
		err = nil
	case err = <-stopped:
	}
	cancel()
	wg.Wait()
	return err
}

func (h *Follower) add(m *sarama.ConsumerMessage) {
	h.msgs.Add(1)
	s, err := Decode(m.Key, m.Value)
	if err != nil {
		if n := h.badMsgs.Add(1); n <= 10 || n&(n-1) == 0 {
			h.log.Warn("dropping a snapshot message", "partition", m.Partition, "offset", m.Offset, "dropped", n, "err", err)
		}
		return
	}
	h.store.Add(s)
}
