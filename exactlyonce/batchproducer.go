package exactlyonce

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/kafkaconf"
)

// NewBatchProducer opens the producer of a processor's batch writer: the
// sensors' states, pinned by PartitionHeader, and the batch's dead letters,
// snapshots and scores, hashed by key as goka's producers hash them (FNV-1a,
// sarama's placement). It is a franz-go client behind goka's Producer
// interface, with the settings of k's sarama config that matter to a
// producer (an idempotent producer, acks from all replicas, gzip compression,
// linger FlushFrequency, records of at most kafkaconf.MaxMessageBytes, the
// same security).
//
// Why not sarama: a batch writes a state per sensor at once, and franz-go
// takes less time and CPU per record for that (BenchmarkBatchProducer,
// docs/performance.md).
func NewBatchProducer(k kafkaconf.Kafka, clientID string) (goka.Producer, error) {
	cl, err := newBatchClient(k, clientID)
	if err != nil {
		return nil, err
	}
	return &batchProducer{cl: cl}, nil
}

// newBatchClient is the franz-go client of a batch producer, with extra
// options.
func newBatchClient(k kafkaconf.Kafka, clientID string, extra ...kgo.Opt) (*kgo.Client, error) {
	k = k.WithDefaults()
	sc, err := k.Sarama() // the security settings, applied as for every client
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(clientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(k.FlushFrequency),
		kgo.ProducerBatchMaxBytes(kafkaconf.MaxMessageBytes),
		// gzip as kafkaconf's sarama producers: any client decodes it.
		kgo.ProducerBatchCompression(kgo.GzipCompression().WithLevel(kafkaconf.ProducerCompressionLevel)),
		kgo.RecordRetries(sc.Producer.Retry.Max),
		kgo.RetryBackoffFn(func(int) time.Duration { return sc.Producer.Retry.Backoff }),
		kgo.RecordPartitioner(pinPartitioner()),
		// A batch produces all its records before it waits for them (they
		// are in memory already, bounded by the batch's size): franz-go's
		// default of 10,000 would block a batch of many sensors half-way.
		kgo.MaxBufferedRecords(1 << 20),
	}
	sec, err := kafkaconf.KgoSecurity(sc)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(append(opts, sec...), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("producer to %s: %w", strings.Join(k.Brokers, ","), err)
	}
	return cl, nil
}

// pinPartitioner puts a record with PartitionHeader on that partition and
// hashes the others' keys as sarama's hash partitioner does with goka's
// default hasher, so that a key lands where goka's producers put it. A
// partitioner cannot return an error: for a header that names no partition
// it chooses -1, which franz-go fails the record for (EmitWithHeaders checks
// the header first, to name it in the error).
func pinPartitioner() kgo.Partitioner {
	hashed := kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(func(key []byte) uint32 {
		h := fnv.New32a()
		h.Write(key)
		return h.Sum32()
	}))
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		byKey := hashed.ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			for _, h := range r.Headers {
				if h.Key != PartitionHeader {
					continue
				}
				p, err := pinnedPartition(topic, h.Value, int32(n))
				if err != nil {
					return -1
				}
				return int(p)
			}
			return byKey.Partition(r, n)
		}
	})
}

// batchProducer is goka's Producer on a franz-go client.
type batchProducer struct{ cl *kgo.Client }

func (p *batchProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

// EmitWithHeaders produces the record; its promise finishes with the
// record's partition and offset, as sarama reports them.
func (p *batchProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	if v, ok := headers[PartitionHeader]; ok {
		if _, err := pinnedPartition(topic, v, math.MaxInt32); err != nil {
			finish(nil, err)
			return promise
		}
	}
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if len(headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, 0, len(headers))
		for k, v := range headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: v})
		}
	}
	p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			finish(nil, fmt.Errorf("topic %s, key %q: %w", topic, key, err))
			return
		}
		finish(&sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, nil)
	})
	return promise
}

// Close waits for the records produced to be acknowledged (or failed),
// then closes the client.
func (p *batchProducer) Close() error {
	err := p.cl.Flush(context.Background())
	p.cl.Close()
	return err
}
