package kafkaconf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Kafka is the client configuration every role shares. The zero value plus
// Brokers is usable; each field documents its default and why.
type Kafka struct {
	// Brokers to bootstrap from. Default 127.0.0.1:9092 (--brokers, STREAMRLS_BROKERS).
	Brokers []string
	// Version is the protocol version sarama speaks. Default 2.8.0: goka pins
	// 2.0.0, which Kafka 4 refuses.
	Version sarama.KafkaVersion
	// SessionTimeout of the consumer group: how long a dead processor keeps
	// its partitions. Default 6s, the smallest a stock Kafka broker accepts
	// (group.min.session.timeout.ms); sarama's default is 10s.
	SessionTimeout time.Duration
	// Heartbeat interval. Default SessionTimeout/3.
	Heartbeat time.Duration
	// Replication of the topics streamrls creates. Default 1 (goka asks for 2,
	// which fails on a one-broker cluster).
	Replication int
	// Retention of the input and dead-letter streams. Default 0 means keep
	// forever (retention.ms=-1) so that a replay can rebuild every model;
	// goka's default of one hour makes replay impossible after that hour.
	Retention time.Duration
	// FlushFrequency is how long the producer lingers to batch messages
	// (Producer.Flush.Frequency). Default 1ms: the emit-to-view latency
	// target is tens of milliseconds and every sample crosses two producers
	// (input, changelog), so goka's 100ms would be the floor of it; under
	// load FlushBytes sends first.
	FlushFrequency time.Duration
	// Security: SASL and TLS (nil: plaintext).
	Security *Security
}

// Security configures SASL and TLS; see security.go.
type Security struct {
	Apply func(*sarama.Config) error
}

// WithDefaults fills unset fields.
func (k Kafka) WithDefaults() Kafka {
	if len(k.Brokers) == 0 {
		k.Brokers = []string{"127.0.0.1:9092"}
	}
	if k.Version == (sarama.KafkaVersion{}) {
		k.Version = sarama.V2_8_0_0
	}
	if k.SessionTimeout == 0 {
		k.SessionTimeout = 6 * time.Second
	}
	if k.Heartbeat == 0 {
		k.Heartbeat = k.SessionTimeout / 3
	}
	if k.Replication == 0 {
		k.Replication = 1
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
// default here, goka's or sarama's, and why; README "Performance" has the
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
	// flight, so requests should be big under load: 1 MiB took 8% less CPU
	// per message than 256 kB in `streamrls bench` (a), and at low rates
	// FlushFrequency sends first anyway.
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
	// Loopback and a 2-core budget: compression (goka's default is snappy)
	// costs more CPU than it saves, and float64 state (P, θ) hardly
	// compresses.
	c.Producer.Compression = sarama.CompressionNone
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

// TopicManagerConfig replaces goka's: replication 1, streams kept forever,
// and a mismatched existing table is an error rather than silently ignored.
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

// EnsureStream creates the stream topic with partitions partitions unless it
// exists, and returns its partition count. An existing topic is accepted as
// it is (e.g. RLSTrain made by kafka-python with 4 partitions).
func EnsureStream(tm goka.TopicManager, topic string, partitions int) (int, error) {
	if ps, err := tm.Partitions(topic); err == nil && len(ps) > 0 {
		return len(ps), nil
	}
	if partitions <= 0 {
		return 0, fmt.Errorf("topic %q: partitions must be > 0, got %d", topic, partitions)
	}
	if err := tm.EnsureStreamExists(topic, partitions); err != nil {
		return 0, fmt.Errorf("create topic %q with %d partitions: %w", topic, partitions, err)
	}
	return partitions, nil
}

// ProcessorOptions are the goka options every processor of ours uses.
func (k Kafka) ProcessorOptions() ([]goka.ProcessorOption, error) {
	k = k.WithDefaults()
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	return []goka.ProcessorOption{
		goka.WithPartitionChannelSize(PartitionChannelSize),
		goka.WithTopicManagerBuilder(k.topicManagerBuilder(cfg)),
		goka.WithConsumerGroupBuilder(rejoinGroupBuilder(copyConfig(cfg))),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(copyConfig(cfg))),
		goka.WithProducerBuilder(k.producerBuilder(copyConfig(cfg))),
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
		goka.WithEmitterProducerBuilder(k.producerBuilder(copyConfig(cfg))),
	}, nil
}

func copyConfig(c *sarama.Config) *sarama.Config { cc := *c; return &cc }

// topicManagerBuilder is goka's topic manager on a copy of cfg with
// streamrls's topic settings (TopicManagerConfig).
func (k Kafka) topicManagerBuilder(cfg *sarama.Config) goka.TopicManagerBuilder {
	tmc := copyConfig(cfg)
	tmc.ClientID = "streamrls-topics"
	return goka.TopicManagerBuilderWithConfig(tmc, k.TopicManagerConfig())
}

func (k Kafka) producerBuilder(cfg *sarama.Config) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := copyConfig(cfg)
		c.ClientID = clientID
		c.Producer.Partitioner = PartitionerFor(hasher)
		p, err := goka.NewProducer(brokers, c)
		if err != nil {
			return nil, fmt.Errorf("producer to %s: %w", strings.Join(brokers, ","), err)
		}
		return p, nil
	}
}

// PartitionHeader pins a message to a partition. The processor sets it on
// every table and dead-letter write to the partition of the input message,
// so that a sensor's state lives in the partition its samples arrive on —
// whichever client produced them: kafka-python hashes keys with murmur2,
// goka and sarama with FNV-1a, kcat with CRC32. Without it a sensor's state
// would be written to another partition than the one its processor recovers,
// and acknowledgements of one input partition would arrive out of order.
const PartitionHeader = "streamrls-partition"

// PartitionBytes encodes p for PartitionHeader.
func PartitionBytes(p int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(p))
}

// ErrBadPartitionHeader is returned for a PartitionHeader that is not a
// partition of the topic.
var ErrBadPartitionHeader = errors.New("bad " + PartitionHeader + " header")

// PartitionerFor returns a sarama partitioner that honours PartitionHeader
// and otherwise hashes the key with hasher like goka does.
func PartitionerFor(hasher func() hash.Hash32) sarama.PartitionerConstructor {
	return func(topic string) sarama.Partitioner {
		return &headerPartitioner{hash: sarama.NewCustomHashPartitioner(hasher)(topic), topic: topic}
	}
}

type headerPartitioner struct {
	hash  sarama.Partitioner
	topic string
}

func (h *headerPartitioner) Partition(msg *sarama.ProducerMessage, n int32) (int32, error) {
	for _, hd := range msg.Headers {
		if string(hd.Key) != PartitionHeader {
			continue
		}
		if len(hd.Value) != 4 {
			return -1, fmt.Errorf("topic %s: %w: %d bytes", h.topic, ErrBadPartitionHeader, len(hd.Value))
		}
		p := int32(binary.BigEndian.Uint32(hd.Value))
		if p < 0 || p >= n {
			return -1, fmt.Errorf("topic %s: %w: partition %d of %d", h.topic, ErrBadPartitionHeader, p, n)
		}
		return p, nil
	}
	return h.hash.Partition(msg, n)
}

func (h *headerPartitioner) RequiresConsistency() bool { return true }
