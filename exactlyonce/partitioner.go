package exactlyonce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/kafkaconf"
)

// goka workaround: goka's producer hashes every key to pick the partition
// and offers no way to choose one per message. The producers of
// ProcessorOptions and NewProducer put a message with PartitionHeader on
// that partition, so the processor can write a sensor's state to the
// partition its samples arrived on.

// NewProducer opens a goka producer with k's configuration outside any goka
// processor; it honours PartitionHeader like the processors' own producers.
// (The processor's batch writer uses NewBatchProducer.)
func NewProducer(k kafkaconf.Kafka, clientID string) (goka.Producer, error) {
	k = k.WithDefaults()
	pb, err := k.ProducerBuilder(partitionerFor)
	if err != nil {
		return nil, err
	}
	return pb(k.Brokers, clientID, goka.DefaultHasher())
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

// partitionerFor returns a sarama partitioner that honours PartitionHeader
// and otherwise hashes the key with hasher like goka does.
func partitionerFor(hasher func() hash.Hash32) sarama.PartitionerConstructor {
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
		return pinnedPartition(h.topic, hd.Value, n)
	}
	return h.hash.Partition(msg, n)
}

// pinnedPartition decodes the PartitionHeader value v for topic, of n
// partitions.
func pinnedPartition(topic string, v []byte, n int32) (int32, error) {
	if len(v) != 4 {
		return -1, fmt.Errorf("topic %s: %w: %d bytes", topic, ErrBadPartitionHeader, len(v))
	}
	p := int32(binary.BigEndian.Uint32(v))
	if p < 0 || p >= n {
		return -1, fmt.Errorf("topic %s: %w: partition %d of %d", topic, ErrBadPartitionHeader, p, n)
	}
	return p, nil
}

func (h *headerPartitioner) RequiresConsistency() bool { return true }
