package testkit

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
)

// Consumer returns a sarama consumer with kc's settings; it is closed when
// the test ends.
func Consumer(t testing.TB, kc kafkaconf.Kafka) sarama.Consumer {
	t.Helper()
	cfg, err := kc.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	c, err := sarama.NewConsumer(kc.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Client returns a sarama client with kc's settings; it is closed when the
// test ends.
func Client(t testing.TB, kc kafkaconf.Kafka) sarama.Client {
	t.Helper()
	cfg, err := kc.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	c, err := sarama.NewClient(kc.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
