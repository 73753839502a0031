// Package exactlyonce is the exactly-once writer of a processor that writes
// its results in batches, beside goka's own per-message writes.
//
// A batch's writes are pinned to the input partition they come from
// (PartitionHeader, honoured by NewBatchProducer's and goka's producers), so
// that a sensor's state lives where its samples arrive and a partition's
// acknowledgements arrive in order. The CommitGate holds the input offsets
// back until the batch is acknowledged: a crash re-reads what was not
// written. Claims tells a processor how far each partition it still claims
// goes, and rebalance.go keeps the member in its group across rebalances.
// ProcessorOptions builds goka's processor with all of them.
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
// rejoins at once after a rebalance; the hooks see every session of it.
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
	pb, err := k.ProducerBuilder(PartitionerFor)
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
