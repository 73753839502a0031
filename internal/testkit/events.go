package testkit

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
)

// ProduceEvents creates topic (a group's events topic, with partitions)
// if it is missing and produces evs to it, each keyed by its sensor, as
// the processor does.
func ProduceEvents(t testing.TB, kc kafkaconf.Kafka, topic string, partitions int, evs ...schema.Event) {
	t.Helper()
	tm, err := kc.TopicManager()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	if _, err := kc.EnsureStream(tm, topic, partitions); err != nil {
		t.Fatalf("topic %s: %v", topic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, e := range evs {
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Key: []byte(e.Sensor), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing events to %s: %v", topic, err)
	}
}
