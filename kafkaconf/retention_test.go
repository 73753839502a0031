package kafkaconf_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// TestRetention reads back, through Kafka's DescribeConfigs, the retention
// of the topics streamrls creates on the embedded broker: forever
// (retention.ms=-1) by default so that replay can rebuild every model, and
// --retention when it is set; the snapshots topic's is
// DefaultSnapshotRetention (7 days) unless SnapshotRetention says otherwise.
func TestRetention(t *testing.T) {
	_, kc := testkit.Broker(t)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	limited := kc
	limited.Retention = 36 * time.Hour
	other := topology.Names{Input: "short-lived", Group: "g2"}.WithDefaults()
	if err := processor.EnsureTopics(limited, other, 2); err != nil {
		t.Fatal(err)
	}

	_, admin, err := kc.Admin("streamrls-test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	forever := kc
	forever.SnapshotRetention = -1
	kept := topology.Names{Group: "g3"}.WithDefaults()
	if err := processor.EnsureTopics(forever, kept, 1); err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]string{
		names.Input: "-1", names.DeadLetter: "-1",
		other.Input: "129600000", other.DeadLetter: "129600000",
		// The snapshots topic: 7 days by default, whatever --retention.
		names.Snapshots: "604800000", other.Snapshots: "604800000",
		kept.Snapshots: "-1",
	} {
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms", "cleanup.policy"}})
		if err != nil {
			t.Fatalf("describe %s: %v", topic, err)
		}
		got := map[string]string{}
		for _, e := range entries {
			got[e.Name] = e.Value
		}
		if got["retention.ms"] != want || got["cleanup.policy"] != "delete" {
			t.Errorf("topic %s: retention.ms=%q cleanup.policy=%q, want %q and delete", topic, got["retention.ms"], got["cleanup.policy"], want)
		}
	}
}

// TestTopicsHoldTheLargestRecord: every topic streamrls creates — the
// streams and the compacted table — carries a max.message.bytes that holds
// a record batch of the producer's MaxMessageBytes, read back through
// DescribeConfigs; and a state of MaxStateBytes goes through the real
// producer into the table.
func TestTopicsHoldTheLargestRecord(t *testing.T) {
	_, kc := testkit.Broker(t)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 2); err != nil {
		t.Fatal(err)
	}
	_, admin, err := kc.Admin("streamrls-test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for topic, policy := range map[string]string{names.Input: "delete", names.DeadLetter: "delete", names.Snapshots: "delete", names.Table(): "compact"} {
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"max.message.bytes", "cleanup.policy"}})
		if err != nil {
			t.Fatalf("describe %s: %v", topic, err)
		}
		got := map[string]string{}
		for _, e := range entries {
			got[e.Name] = e.Value
		}
		if got["max.message.bytes"] != strconv.Itoa(kafkaconf.TopicMaxMessageBytes) || got["cleanup.policy"] != policy {
			t.Errorf("topic %s: max.message.bytes=%q cleanup.policy=%q, want %d and %s", topic, got["max.message.bytes"], got["cleanup.policy"], kafkaconf.TopicMaxMessageBytes, policy)
		}
	}
	prod, err := exactlyonce.NewProducer(kc, "streamrls-test")
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	value := make([]byte, processor.MaxStateBytes+codec.EnvelopeHeaderLen)
	key := strings.Repeat("k", processor.MaxKeyBytes)
	done := make(chan error, 1)
	prod.EmitWithHeaders(names.Table(), key, value, goka.Headers{exactlyonce.PartitionHeader: exactlyonce.PartitionBytes(1)}).Then(func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatalf("a state of %d bytes under a %d-byte key: %v", len(value), len(key), err)
	}
}

// TestEnsureTopicsConcurrently: processors, emitters and tests create the
// same topics at once; none of them may fail because another won the race.
func TestEnsureTopicsConcurrently(t *testing.T) {
	_, kc := testkit.Broker(t)
	names := topology.Names{Group: "race"}.WithDefaults()
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() { errs <- processor.EnsureTopics(kc, names, 4) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
