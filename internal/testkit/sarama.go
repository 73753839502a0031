package testkit

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
)

// PartitionProducer returns a synchronous producer with kc's settings that
// writes each message to the partition it names (ProducerMessage.Partition),
// as a processor's pinned writes land; it is closed when the test ends.
func PartitionProducer(t testing.TB, kc kafkaconf.Kafka) sarama.SyncProducer {
	t.Helper()
	sc, err := kc.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(kc.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	return prod
}
