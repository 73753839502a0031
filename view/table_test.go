package view_test

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/topology"
)

// tableWriter creates group's table with partitions partitions and returns
// its name and a function that writes a value straight into one partition
// of it (nil: a tombstone), as a processor's pinned writes do.
func tableWriter(t *testing.T, kc kafkaconf.Kafka, group string, partitions int) (table string, put func(key string, p int32, value []byte)) {
	t.Helper()
	table = topology.Names{Group: group}.Table()
	tm, err := kc.TopicManager()
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.EnsureTableExists(table, partitions); err != nil {
		t.Fatal(err)
	}
	tm.Close()
	prod := testkit.PartitionProducer(t, kc)
	return table, func(key string, p int32, value []byte) {
		t.Helper()
		msg := &sarama.ProducerMessage{Topic: table, Partition: p, Key: sarama.StringEncoder(key)}
		if value != nil {
			msg.Value = sarama.ByteEncoder(value)
		}
		if _, _, err := prod.SendMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
}
