package processor

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/topology"
)

// TestStaleState: a processor's error is a *StaleStateError when goka read
// a local copy newer than its (here empty) table partition, and is left as
// it is when the copy had nothing stored.
func TestStaleState(t *testing.T) {
	_, kc := testkit.Broker(t)
	cfg := Config{Kafka: kc, Names: topology.Names{}.WithDefaults(), StateDir: t.TempDir()}
	_, admin, err := kc.Admin("test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(cfg.Names.Table(), &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	gokaErr := errors.New("goka: try to delete your local cache")

	fresh := &localOffsets{m: map[int32]int64{0: -3, 1: -3}}
	if err := fresh.explain(gokaErr, cfg); err != gokaErr {
		t.Errorf("nothing stored locally: %v, want goka's error as it is", err)
	}
	stale := &localOffsets{m: map[int32]int64{0: -3, 1: 41}}
	err = stale.explain(gokaErr, cfg)
	var se *StaleStateError
	if !errors.As(err, &se) || !errors.Is(err, gokaErr) || se.Partition != 1 || se.Local != 41 || se.End != 0 {
		t.Errorf("a local copy at offset 41 of an empty partition: %#v", err)
	}
}
