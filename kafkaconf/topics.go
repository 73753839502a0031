package kafkaconf

import (
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// TopicManagerConfig replaces goka's: Replication (1) and Retention
// (forever) of Kafka, and an existing topic whose partitions or settings
// differ from what goka expects is logged rather than silently accepted.
func (k Kafka) TopicManagerConfig() *goka.TopicManagerConfig {
	k = k.WithDefaults()
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = k.Replication
	tm.Stream.Replication = k.Replication
	tm.Stream.Retention = k.retention()
	tm.MismatchBehavior = goka.TMConfigMismatchBehaviorWarn
	return tm
}

func (k Kafka) retention() time.Duration {
	if k.Retention <= 0 {
		return -time.Millisecond // retention.ms=-1: forever
	}
	return k.Retention
}

// TopicManager opens a goka topic manager with this configuration.
func (k Kafka) TopicManager() (goka.TopicManager, error) {
	k = k.WithDefaults()
	c, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	c.ClientID = "streamrls-topics"
	tm, err := goka.NewTopicManager(k.Brokers, c, k.TopicManagerConfig())
	if err != nil {
		return nil, fmt.Errorf("connect to brokers %s: %w", strings.Join(k.Brokers, ","), err)
	}
	return tm, nil
}

// ForSnapshots is k with the snapshots topic's retention
// (SnapshotRetention) as the Retention of the streams it creates when
// snapshots is true, else k.
func (k Kafka) ForSnapshots(snapshots bool) Kafka {
	if !snapshots {
		return k
	}
	k = k.WithDefaults()
	k.Retention = k.SnapshotRetention
	return k
}

// EnsureStream creates the stream topic with partitions partitions unless it
// exists, and returns its partition count. An existing topic is accepted as
// it is (e.g. RLSTrain made by kafka-python with 4 partitions).
func (k Kafka) EnsureStream(tm goka.TopicManager, topic string, partitions int) (int, error) {
	k = k.WithDefaults()
	if ps, err := tm.Partitions(topic); err == nil && len(ps) > 0 {
		return len(ps), nil
	}
	if partitions <= 0 {
		return 0, fmt.Errorf("topic %q: partitions must be > 0, got %d", topic, partitions)
	}
	if err := tm.EnsureTopicExists(topic, partitions, k.Replication, map[string]string{
		"cleanup.policy":    "delete",
		"retention.ms":      fmt.Sprint(k.retention().Milliseconds()),
		"max.message.bytes": fmt.Sprint(TopicMaxMessageBytes),
	}); err != nil {
		if n := createdMeanwhile(tm, topic); n > 0 {
			return n, nil
		}
		return 0, fmt.Errorf("create topic %q with %d partitions: %w", topic, partitions, err)
	}
	return partitions, nil
}

// createdMeanwhile is the partition count of a topic that another client
// (another processor, the emitter) created between our check and our
// create, 0 if it still does not exist: goka reports "already exists" as
// text only.
func createdMeanwhile(tm goka.TopicManager, topic string) int {
	ps, err := tm.Partitions(topic)
	if err != nil {
		return 0
	}
	return len(ps)
}

// EnsureTable creates a group's table topic (compacted) with partitions
// partitions unless it exists; goka would create it without
// max.message.bytes, and a broker whose default is lower than the
// producer's MaxMessageBytes would refuse a large state.
func (k Kafka) EnsureTable(tm goka.TopicManager, topic string, partitions int) error {
	k = k.WithDefaults()
	if ps, err := tm.Partitions(topic); err == nil && len(ps) > 0 {
		return nil
	}
	if err := tm.EnsureTopicExists(topic, partitions, k.Replication, map[string]string{
		"cleanup.policy":    "compact",
		"max.message.bytes": fmt.Sprint(TopicMaxMessageBytes),
	}); err != nil {
		if createdMeanwhile(tm, topic) > 0 {
			return nil
		}
		return fmt.Errorf("create table topic %q with %d partitions: %w", topic, partitions, err)
	}
	return nil
}

// TopicMaxMessageBytes is the max.message.bytes of the topics streamrls
// creates: a record batch of MaxMessageBytes and its framing fit (Kafka's
// broker default is 1 MiB + 12 bytes).
const TopicMaxMessageBytes = MaxMessageBytes + 1<<10

// topicManagerBuilder is goka's topic manager on a copy of cfg with
// streamrls's topic settings (TopicManagerConfig).
func (k Kafka) topicManagerBuilder(cfg *sarama.Config) goka.TopicManagerBuilder {
	tmc := copyConfig(cfg)
	tmc.ClientID = "streamrls-topics"
	inner := goka.TopicManagerBuilderWithConfig(tmc, k.TopicManagerConfig())
	return func(brokers []string) (goka.TopicManager, error) {
		tm, err := inner(brokers)
		if err != nil {
			return nil, err
		}
		return committedEnd{TopicManager: tm, k: k}, nil
	}
}

// StreamLimits bound the log a stream topic keeps, by age and by size, as
// `run` sets them on the topics of its own broker; a replay then covers
// what is left. Kafka deletes whole segments, so a partition keeps up to
// one segment (SegmentBytes) more than its share of Bytes.
type StreamLimits struct {
	// Time is the topic's retention.ms. 0: no limit by age.
	Time time.Duration
	// Bytes bounds the topic, split evenly over its partitions (Kafka's
	// retention.bytes is per partition). 0: no limit by size.
	Bytes int64
}

// Limits of segment.bytes a limited stream gets: Kafka's minimum, and the
// largest useful under a size limit.
const (
	minSegmentBytes = 1 << 20
	maxSegmentBytes = 64 << 20
)

// Configs are the topic configs of l for a topic of partitions partitions:
// retention.ms and retention.bytes (-1 where l has no limit), and with a
// size limit segment.bytes of a quarter of a partition's share, so that
// whole segments past the limit can be deleted.
func (l StreamLimits) Configs(partitions int) map[string]string {
	c := map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}
	if l.Time > 0 {
		c["retention.ms"] = fmt.Sprint(max(l.Time.Milliseconds(), 1))
	}
	if l.Bytes > 0 && partitions > 0 {
		share := max(l.Bytes/int64(partitions), 1)
		c["retention.bytes"] = fmt.Sprint(share)
		c["segment.bytes"] = fmt.Sprint(min(max(share/4, minSegmentBytes), maxSegmentBytes))
	}
	return c
}

// LimitStreams sets l on the existing stream topics (their retention.ms,
// retention.bytes and segment.bytes; other settings stay), whether created
// now or by an earlier run.
func (k Kafka) LimitStreams(topics []string, l StreamLimits) error {
	client, admin, err := k.Admin("streamrls-topics")
	if err != nil {
		return err
	}
	defer admin.Close()
	for _, topic := range topics {
		ps, err := client.Partitions(topic)
		if err != nil {
			return fmt.Errorf("limit topic %q: %w", topic, err)
		}
		entries := map[string]sarama.IncrementalAlterConfigsEntry{}
		for name, v := range l.Configs(len(ps)) {
			entries[name] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
		}
		if err := admin.IncrementalAlterConfig(sarama.TopicResource, topic, entries, false); err != nil {
			return fmt.Errorf("limit topic %q: %w", topic, err)
		}
	}
	return nil
}
