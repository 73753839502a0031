package testkit

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/topology"
)

// saramaConfig is kc's sarama configuration.
func saramaConfig(t testing.TB, kc kafkaconf.Kafka) *sarama.Config {
	t.Helper()
	cfg, err := kc.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// PartitionProducer returns a synchronous producer with kc's settings that
// writes each message to the partition it names (ProducerMessage.Partition),
// as a processor's pinned writes land; it is closed when the test ends.
func PartitionProducer(t testing.TB, kc kafkaconf.Kafka) sarama.SyncProducer {
	t.Helper()
	sc := saramaConfig(t, kc)
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(kc.Brokers, sc)
	return closing(t, prod, err)
}

// Client returns a sarama client with kc's settings; it is closed when the
// test ends.
func Client(t testing.TB, kc kafkaconf.Kafka) sarama.Client {
	t.Helper()
	c, err := sarama.NewClient(kc.Brokers, saramaConfig(t, kc))
	return closing(t, c, err)
}

// Consumer returns a sarama consumer with kc's settings; it and its client
// are closed when the test ends.
func Consumer(t testing.TB, kc kafkaconf.Kafka) sarama.Consumer {
	t.Helper()
	c, err := sarama.NewConsumerFromClient(Client(t, kc))
	return closing(t, c, err)
}

// closing fails the test on err, else returns c, closed when the test ends.
func closing[C interface{ Close() error }](t testing.TB, c C, err error) C {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TableWriter creates group's table with partitions partitions and returns
// its name and a function that writes a value straight into one partition
// of it (nil: a tombstone), as a processor's pinned writes do.
func TableWriter(t testing.TB, kc kafkaconf.Kafka, group string, partitions int) (table string, put func(key string, p int32, value []byte)) {
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
	prod := PartitionProducer(t, kc)
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
