// Package exactlyonce is the exactly-once writer of a processor that writes
// its results in batches. A batch's writes are pinned to the input partition
// they come from (PartitionHeader), so that a sensor's state lives where its
// samples arrive and a partition's acknowledgements come in order. Each
// batch is one Kafka transaction with its input offsets (Transactions), which
// fences a paused previous owner of the partition; without transactions the
// writes are acknowledged before the batch's input offsets are committed
// (CommitGate), so a crash re-reads whatever was not written. Claims says
// which partitions the member still claims and how far each one's input
// goes. ProcessorOptions builds goka's processor with them, in a consumer
// group that rejoins at once after a rebalance (rebalance.go);
// NewBatchProducer is the producer of batches without transactions.
package exactlyonce

import (
	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/kafkaconf"
)

// A GroupHook watches or changes the consumer-group sessions goka gets:
// CommitGate, Claims.
type GroupHook interface {
	wrap(sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler
}

// ProcessorOptions are k's processor options (kafkaconf.Kafka.ProcessorOptions)
// with producers that honour PartitionHeader and a consumer group that
// rejoins at once after a rebalance; the hooks see every session of it, the
// first outermost (Transactions, which drops goka's marks, comes first).
func ProcessorOptions(k kafkaconf.Kafka, hooks ...GroupHook) ([]goka.ProcessorOption, error) {
	k = k.WithDefaults()
	opts, err := k.ProcessorOptions()
	if err != nil {
		return nil, err
	}
	cfg, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	for _, h := range hooks {
		if _, ok := h.(*Transactions); ok {
			// The transactions commit the offsets; sarama has nothing to.
			cfg.Consumer.Offsets.AutoCommit.Enable = false
		}
	}
	pb, err := k.ProducerBuilder(partitionerFor)
	if err != nil {
		return nil, err
	}
	// goka applies options in order: these replace kafkaconf's builders.
	return append(opts,
		goka.WithConsumerGroupBuilder(rejoinGroupBuilder(cfg, hooks)),
		goka.WithProducerBuilder(pb),
	), nil
}

// topicPartition keys the gate's and the claims' per-partition state.
type topicPartition struct {
	topic     string
	partition int32
}
