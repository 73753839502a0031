package kafkaconf_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// TestLimitStreams reads back, through DescribeConfigs, the limits `run`
// sets on its streams: retention.ms, retention.bytes as a partition's
// share with a segment of a quarter of it, the topics' other settings
// kept; and no limit at all again (-1) when they are lifted.
func TestLimitStreams(t *testing.T) {
	_, kc := testkit.Broker(t)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	_, admin, err := kc.Admin("streamrls-test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	streams := []string{names.Input, names.Snapshots}
	check := func(l kafkaconf.StreamLimits, want map[string]string) {
		t.Helper()
		if err := kc.LimitStreams(streams, l); err != nil {
			t.Fatal(err)
		}
		for _, topic := range streams {
			entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
			if err != nil {
				t.Fatalf("describe %s: %v", topic, err)
			}
			got := map[string]string{}
			for _, e := range entries {
				got[e.Name] = e.Value
			}
			for name, v := range want {
				if got[name] != v {
					t.Errorf("%+v: topic %s: %s=%q, want %q", l, topic, name, got[name], v)
				}
			}
		}
	}
	check(kafkaconf.StreamLimits{Time: 2 * time.Hour, Bytes: 64 << 20}, map[string]string{
		"retention.ms": "7200000", "retention.bytes": strconv.Itoa(16 << 20), "segment.bytes": strconv.Itoa(4 << 20),
		"cleanup.policy": "delete", "max.message.bytes": strconv.Itoa(kafkaconf.TopicMaxMessageBytes),
	})
	check(kafkaconf.StreamLimits{}, map[string]string{"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"})
	if err := kc.LimitStreams([]string{"no-such-topic"}, kafkaconf.StreamLimits{Time: time.Hour}); err == nil {
		t.Error("a topic that does not exist was limited")
	}
}

// TestStreamLimitsSegments: a partition's share bounds the segment, within
// Kafka's smallest and a size that keeps the files few.
func TestStreamLimitsSegments(t *testing.T) {
	for _, tc := range []struct {
		bytes      int64
		partitions int
		segment    string
	}{
		{256 << 20, 8, strconv.Itoa(8 << 20)},
		{8 << 20, 8, strconv.Itoa(1 << 20)},
		{64 << 30, 1, strconv.Itoa(64 << 20)},
		{0, 8, ""},
	} {
		got := kafkaconf.StreamLimits{Bytes: tc.bytes}.Configs(tc.partitions)["segment.bytes"]
		if got != tc.segment {
			t.Errorf("%d bytes over %d partitions: segment.bytes %q, want %q", tc.bytes, tc.partitions, got, tc.segment)
		}
	}
}
