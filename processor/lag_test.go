package processor

import (
	"context"
	"log/slog"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/topology"
)

// TestLagFromOffsets checks the lag arithmetic against a real broker: end
// offset minus the next offset to process, which is the one after the last
// handled message, else the group's committed offset, else the oldest.
func TestLagFromOffsets(t *testing.T) {
	_, kc := testkit.Broker(t)
	names := topology.Names{Input: "lag-in", Group: "lag-group"}.WithDefaults()
	if err := EnsureTopics(kc, names, 2); err != nil {
		t.Fatal(err)
	}
	prod := testkit.PartitionProducer(t, kc)
	for p, n := range map[int32]int{0: 10, 1: 4} {
		for i := 0; i < n; i++ {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: names.Input, Partition: p, Value: sarama.StringEncoder("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	client := testkit.Client(t, kc)
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	src := &lagSource{client: client, admin: admin, names: names, log: slog.Default()}
	check := func(next map[int32]int64, want map[int32]int64) {
		t.Helper()
		got, err := src.lags([]int32{0, 1}, next)
		if err != nil {
			t.Fatal(err)
		}
		for p, w := range want {
			if got[p] != w {
				t.Errorf("next %v: lag of partition %d = %d, want %d", next, p, got[p], w)
			}
		}
	}
	check(map[int32]int64{0: -1, 1: -1}, map[int32]int64{0: 10, 1: 4}) // nothing committed: from the oldest
	check(map[int32]int64{0: 3, 1: 4}, map[int32]int64{0: 7, 1: 0})    // after handled messages

	// Commit offset 2 of partition 1 for the group, as an admin would.
	kcl, err := kgo.NewClient(kgo.SeedBrokers(kc.Brokers...), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = names.Group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = names.Input
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 1, 2
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), kcl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	check(map[int32]int64{0: 9, 1: -1}, map[int32]int64{0: 1, 1: 2}) // from the committed offset
}
