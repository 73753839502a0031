// Package kafkaconf is how streamrls talks to Kafka: the client
// configuration every role shares (Kafka), its security (SASL and TLS), and
// what is built from it: goka's options, topic settings and logger, and the
// sarama admin client. The exactly-once writer of a processor (partition
// pinning, commit gate, claims) builds on it in package exactlyonce.
//
// goka's and sarama's defaults are wrong for this job in several places;
// each override says which and why.
package kafkaconf

import (
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Kafka is the client configuration every role shares. The zero value plus
// Brokers is usable; each field documents its default, the client or topic
// setting it sets, and why.
type Kafka struct {
	// Brokers to bootstrap from (Kafka's bootstrap.servers). Default
	// 127.0.0.1:9092, the embedded broker's address (--brokers,
	// STREAMRLS_BROKERS).
	Brokers []string
	// Version is the protocol version sarama speaks (sarama Config.Version).
	// Default 2.8.0: goka pins 2.0.0, which Kafka 4 refuses.
	Version sarama.KafkaVersion
	// SessionTimeout of the consumer group (Consumer.Group.Session.Timeout,
	// Kafka's session.timeout.ms): how long a dead processor keeps its
	// partitions. Default 6s, the smallest a stock Kafka broker accepts
	// (group.min.session.timeout.ms); sarama's default is 10s. The
	// rebalance timeout is twice this.
	SessionTimeout time.Duration
	// Heartbeat interval (Consumer.Group.Heartbeat.Interval, Kafka's
	// heartbeat.interval.ms). Default SessionTimeout/3, the ratio Kafka
	// recommends, so that two heartbeats may be lost before the session ends.
	Heartbeat time.Duration
	// Replication of the topics streamrls creates (goka
	// TopicManagerConfig.Table.Replication and .Stream.Replication). Default
	// 1: goka asks for 2, which fails on a one-broker cluster.
	Replication int
	// Retention of the input and dead-letter streams (goka
	// TopicManagerConfig.Stream.Retention, the topics' retention.ms).
	// Default 0 means keep forever (retention.ms=-1) so that a replay can
	// rebuild every model; goka's default of one hour makes replay
	// impossible after that hour. The table is compacted, not retained.
	Retention time.Duration
	// SnapshotRetention is the retention of the snapshots topic (see
	// ForSnapshots). Default DefaultSnapshotRetention: `serve` keeps the
	// learning curves in its state directory and resumes the topic from
	// where it was, so the topic only has to outlive a stopped `serve`.
	// Negative: forever.
	SnapshotRetention time.Duration
	// FlushFrequency is how long the producer lingers to batch messages
	// (Producer.Flush.Frequency, Kafka's linger.ms). Default 1ms: the
	// emit-to-view latency target is tens of milliseconds and every sample
	// crosses two producers (input, changelog), so goka's 100ms would be
	// the floor of it; under load FlushBytes sends first.
	FlushFrequency time.Duration
	// Security sets SASL and TLS (sarama Net.SASL, Net.TLS); build it with
	// SecurityConfig.Security. Default nil: plaintext without SASL.
	Security *Security
}

// Security applies SASL and TLS settings to a sarama config; see
// SecurityConfig.
type Security struct {
	Apply func(*sarama.Config) error
}

// Defaults of Kafka.
const (
	DefaultBroker         = "127.0.0.1:9092" // the embedded broker's usual address
	DefaultSessionTimeout = 6 * time.Second  // Kafka's minimum by default
	DefaultReplication    = 1
	// DefaultSnapshotRetention is the snapshots topic's retention.ms.
	DefaultSnapshotRetention = 7 * 24 * time.Hour
)

// WithDefaults fills unset fields.
func (k Kafka) WithDefaults() Kafka {
	if len(k.Brokers) == 0 {
		k.Brokers = []string{DefaultBroker}
	}
	if k.SnapshotRetention == 0 {
		k.SnapshotRetention = DefaultSnapshotRetention
	}
	if k.Version == (sarama.KafkaVersion{}) {
		k.Version = sarama.V2_8_0_0
	}
	if k.SessionTimeout == 0 {
		k.SessionTimeout = DefaultSessionTimeout
	}
	if k.Heartbeat == 0 {
		k.Heartbeat = k.SessionTimeout / 3
	}
	if k.Replication == 0 {
		k.Replication = DefaultReplication
	}
	if k.FlushFrequency == 0 {
		k.FlushFrequency = time.Millisecond
	}
	return k
}

// ParseBrokers splits a comma-separated broker list, rejecting empty entries
// and entries without a port.
func ParseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if !strings.Contains(b, ":") {
			return nil, fmt.Errorf("broker %q has no port (want host:port)", b)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no brokers in %q", s)
	}
	return out, nil
}

// Client tuning for this job: many small messages in, one ~1.2 kB state
// write per message out, on loopback or a LAN, 2 cores. Each knob says its
// default here, goka's or sarama's, and why; docs/performance.md has the
// measurements.
const (
	// FetchBytes (sarama Consumer.Fetch.Default, sarama's default too) is
	// what one fetch may return per partition: about 40 micro-batches of
	// 256 samples (24.6 kB each) or 10,000 single samples.
	FetchBytes = 1 << 20
	// FetchWait (Consumer.MaxWaitTime; sarama 500ms) bounds how long the
	// broker holds a fetch that has nothing to return. With Fetch.Min = 1
	// byte it answers as soon as anything arrives, so this only matters
	// when a partition is idle; 50ms keeps an idle partition's first
	// sample from waiting long.
	FetchWait = 50 * time.Millisecond
	// CommitInterval (Consumer.Offsets.AutoCommit.Interval; goka and
	// sarama 1s) is how often consumed offsets are committed. Anything
	// redelivered after a crash is skipped by the state's own offset, so a
	// longer interval costs only re-reading; a shorter one more requests.
	CommitInterval = time.Second
	// FlushBytes (Producer.Flush.Bytes; sarama 0, goka 64 KiB): a produce
	// request leaves once this much is buffered, or after FlushFrequency.
	// With the idempotent producer only one request per broker is in
	// flight, so requests should be big under load (less CPU per message:
	// docs/performance.md#kafka-client-and-storage-settings), and at low
	// rates FlushFrequency sends first anyway.
	FlushBytes = 1 << 20
	// MaxMessageBytes (Producer.MaxMessageBytes; sarama 1 MiB) is the
	// largest record batch; Kafka's default message.max.bytes is about 1 MB.
	MaxMessageBytes = 1 << 20
	// PartitionChannelSize (goka.WithPartitionChannelSize; goka 10) is the
	// messages buffered between the consumer and a partition's callback
	// goroutine. goka's 10 makes the consumer block and wake for every
	// few messages under load; 128 lets it run ahead by a fetch's worth of
	// small messages (at most ~3 MB of 24.6 kB batches per partition).
	PartitionChannelSize = 128
	// ProducerCompressionLevel (Producer.CompressionLevel with gzip;
	// sarama and franz-go use gzip's default, 6) is gzip's fastest level:
	// float64 states hardly compress at any level, while text, headers and
	// repeated bad values compress well at this one, for a fraction of the
	// CPU. exactlyonce's batch producer uses the same codec and level.
	ProducerCompressionLevel = 1
)

// Sarama builds a fresh sarama config for one client. Never shared: goka
// builders mutate ClientID and the partitioner.
func (k Kafka) Sarama() (*sarama.Config, error) {
	k = k.WithDefaults()
	c := goka.DefaultConfig()
	c.Version = k.Version
	// A new group reads its input from the oldest offset: samples sent before
	// the first processor started are not lost (goka's default is newest).
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Every reader skips the records of aborted transactions: a processor
	// writes each batch in one (exactlyonce.Transactions), and a batch that
	// was not committed never happened.
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	c.Consumer.Group.Session.Timeout = k.SessionTimeout
	c.Consumer.Group.Heartbeat.Interval = k.Heartbeat
	c.Consumer.Group.Rebalance.Timeout = 2 * k.SessionTimeout
	c.Consumer.Fetch.Min = 1
	c.Consumer.Fetch.Default = FetchBytes
	c.Consumer.MaxWaitTime = FetchWait
	c.Consumer.Offsets.AutoCommit.Interval = CommitInterval
	// Idempotent producer: a retried batch is not written twice and the
	// changelog keeps the order of a partition's writes.
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	// Gzip at its fastest level (ProducerCompressionLevel): every Kafka client
	// reads it without optional libraries, kafka-python included, and the
	// brokers keep batches as they are produced, so samples, snapshots and
	// dead letters are compressed on disk too.
	c.Producer.Compression = sarama.CompressionGZIP
	c.Producer.CompressionLevel = ProducerCompressionLevel
	c.Producer.Flush.Frequency = k.FlushFrequency
	c.Producer.Flush.Bytes = FlushBytes
	c.Producer.Flush.MaxMessages = 0
	c.Producer.MaxMessageBytes = MaxMessageBytes
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	if k.Security != nil && k.Security.Apply != nil {
		if err := k.Security.Apply(c); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client config: %w", err)
	}
	return c, nil
}

// ProcessorOptions are the goka options of a processor with this
// configuration. A processor of streamrls is built with
// exactlyonce.ProcessorOptions, which adds the producers and consumer group
// its writes need.
func (k Kafka) ProcessorOptions() ([]goka.ProcessorOption, error) {
	k = k.WithDefaults()
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	return []goka.ProcessorOption{
		goka.WithPartitionChannelSize(PartitionChannelSize),
		goka.WithTopicManagerBuilder(k.topicManagerBuilder(cfg)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(copyConfig(cfg))),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(copyConfig(cfg))),
		goka.WithProducerBuilder(producerBuilder(cfg, nil)),
	}, nil
}

// ViewOptions are the goka options every view of ours uses.
func (k Kafka) ViewOptions() ([]goka.ViewOption, error) {
	k = k.WithDefaults()
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	return []goka.ViewOption{
		goka.WithViewTopicManagerBuilder(k.topicManagerBuilder(cfg)),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(copyConfig(cfg))),
	}, nil
}

// EmitterOptions are the goka options every emitter of ours uses.
func (k Kafka) EmitterOptions() ([]goka.EmitterOption, error) {
	k = k.WithDefaults()
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	return []goka.EmitterOption{
		goka.WithEmitterTopicManagerBuilder(k.topicManagerBuilder(cfg)),
		goka.WithEmitterProducerBuilder(producerBuilder(cfg, nil)),
	}, nil
}

// ProducerBuilder is goka's producer builder with this configuration. Its
// producers place a message with partitioner(hasher), hasher being the one
// goka passes; a nil partitioner hashes the key with it, as goka does.
func (k Kafka) ProducerBuilder(partitioner func(hasher func() hash.Hash32) sarama.PartitionerConstructor) (goka.ProducerBuilder, error) {
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	return producerBuilder(cfg, partitioner), nil
}

// producerBuilder builds each producer on a copy of cfg: goka's own builder
// changes the config it is given, shared by every producer it builds.
func producerBuilder(cfg *sarama.Config, partitioner func(func() hash.Hash32) sarama.PartitionerConstructor) goka.ProducerBuilder {
	if partitioner == nil {
		partitioner = sarama.NewCustomHashPartitioner
	}
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := copyConfig(cfg)
		c.ClientID = clientID
		c.Producer.Partitioner = partitioner(hasher)
		p, err := goka.NewProducer(brokers, c)
		if err != nil {
			return nil, fmt.Errorf("producer to %s: %w", strings.Join(brokers, ","), err)
		}
		return p, nil
	}
}

func copyConfig(c *sarama.Config) *sarama.Config { cc := *c; return &cc }
