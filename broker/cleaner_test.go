package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testCleanerInterval = 100 * time.Millisecond

func startTestBroker(t *testing.T, dir string) *Broker {
	t.Helper()
	b, err := Start(Config{Listen: "127.0.0.1:0", DataDir: dir, CleanerInterval: testCleanerInterval,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testClient(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a one-partition topic with configs.
func createTopic(t *testing.T, cl *kgo.Client, topic string, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err == nil && resp.Topics[0].ErrorCode != 0 {
		err = fmt.Errorf("error code %d", resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// produce writes each record in a batch of its own.
func produce(t *testing.T, cl *kgo.Client, topic string, recs ...*kgo.Record) {
	t.Helper()
	for _, r := range recs {
		r.Topic = topic
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll is every record of topic's partition 0 from its log start.
func readAll(t *testing.T, b *Broker, topic string) []*kgo.Record {
	t.Helper()
	cl := testClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var recs []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r); n++ })
		if n == 0 {
			return recs
		}
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(testCleanerInterval) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("%s: %s", what, last)
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeVersions writes rounds versions of keys keys, each in a batch of
// its own, then one more version of key 0, so that the last batch (which
// Kafka never compacts) holds one key only.
func writeVersions(t *testing.T, cl *kgo.Client, topic string, keys, rounds int) {
	t.Helper()
	for round := range rounds {
		for k := range keys {
			produce(t, cl, topic, &kgo.Record{Key: []byte(strconv.Itoa(k)), Value: []byte(fmt.Sprintf("%d@%d", k, round))})
		}
	}
	produce(t, cl, topic, &kgo.Record{Key: []byte("0"), Value: []byte(fmt.Sprintf("0@%d", rounds))})
}

// compacted reports whether topic holds one record per key, each the
// latest version of writeVersions, and the active batch (Kafka compacts
// only what precedes it: key 0 may appear once more).
func compacted(t *testing.T, b *Broker, topic string, keys, rounds int) func() (bool, string) {
	return func() (bool, string) {
		recs := readAll(t, b, topic)
		latest := map[string]string{}
		for _, r := range recs {
			latest[string(r.Key)] = string(r.Value)
		}
		if len(recs) > keys+1 || len(latest) != keys {
			return false, fmt.Sprintf("%d records of %d keys, want at most %d of %d", len(recs), len(latest), keys+1, keys)
		}
		for k := range keys {
			want := fmt.Sprintf("%d@%d", k, rounds-1)
			if k == 0 {
				want = fmt.Sprintf("0@%d", rounds)
			}
			if got := latest[strconv.Itoa(k)]; got != want {
				return false, fmt.Sprintf("key %d holds %q, want %q", k, got, want)
			}
		}
		return true, ""
	}
}

// TestCleanerCompacts: the broker's cleaner compacts a compacted topic to
// the latest record of each key, on disk too, and does so again after a
// restart on the same data dir, when kfake's own cleaner does not run for
// the topics it loaded.
func TestCleanerCompacts(t *testing.T) {
	const keys, rounds = 5, 40
	dir := t.TempDir()
	b := startTestBroker(t, dir)
	cl := testClient(t, b)
	createTopic(t, cl, "table", map[string]string{"cleanup.policy": "compact"})
	part := filepath.Join(dir, "partitions", "table-0")
	writeVersions(t, cl, "table", keys, rounds)
	written := dirBytes(t, part)
	waitFor(t, "compaction", compacted(t, b, "table", keys, rounds))
	if n := dirBytes(t, part); n*4 > written {
		t.Errorf("table on disk: %d bytes after compaction, %d before; want a quarter at most", n, written)
	}
	cl.Close()
	b.Close()

	b = startTestBroker(t, dir)
	defer b.Close()
	cl = testClient(t, b)
	writeVersions(t, cl, "table", keys, 2*rounds)
	waitFor(t, "compaction after a restart", compacted(t, b, "table", keys, 2*rounds))
}

// TestCleanerRetention: the cleaner deletes a delete-policy topic's
// records past its retention.ms, and its oldest past retention.bytes,
// segment files included, while a topic without a retention of its own
// keeps everything (the broker's default is no limit).
func TestCleanerRetention(t *testing.T) {
	dir := t.TempDir()
	b := startTestBroker(t, dir)
	defer b.Close()
	cl := testClient(t, b)
	createTopic(t, cl, "aged", map[string]string{"retention.ms": "500"})
	createTopic(t, cl, "sized", map[string]string{"retention.bytes": "4000", "segment.bytes": "1000"})
	createTopic(t, cl, "kept", nil)
	value := make([]byte, 200)
	for i := range 50 {
		for _, topic := range []string{"aged", "sized", "kept"} {
			produce(t, cl, topic, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: value})
		}
	}
	waitFor(t, "retention.ms", func() (bool, string) {
		n, size := len(readAll(t, b, "aged")), dirBytes(t, filepath.Join(dir, "partitions", "aged-0"))
		return n == 0 && size < 1000, fmt.Sprintf("%d records, %d bytes on disk", n, size)
	})
	// Whole segments are deleted: up to one segment and one batch over.
	sized := readAll(t, b, "sized")
	if size := dirBytes(t, filepath.Join(dir, "partitions", "sized-0")); len(sized) == 0 || len(sized) >= 50 || size > 6000 {
		t.Errorf("sized: %d records, %d bytes on disk; want some of 50, at most 6000 bytes", len(sized), size)
	}
	if len(sized) > 0 && string(sized[len(sized)-1].Key) != "49" {
		t.Errorf("sized: last record %q; want the newest, 49", sized[len(sized)-1].Key)
	}
	if n := len(readAll(t, b, "kept")); n != 50 {
		t.Errorf("kept: %d records; want all 50", n)
	}
}
