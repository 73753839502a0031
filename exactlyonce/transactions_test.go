package exactlyonce_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
)

// member is a consumer-group member whose sessions go through the
// transactions' hook; it hands the test each claim's first offset.
type member struct {
	claims chan sarama.ConsumerGroupClaim
	first  chan int64
}

func (m *member) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	m.claims <- c
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			select {
			case m.first <- msg.Offset:
			default:
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// brokers are the brokers the transaction tests run against: the embedded
// one, and the embedded one answering only the API versions Kafka 4.0
// serves (TxnOffsetCommit names topics there, by ID beyond).
var brokers = []struct {
	name string
	opts []kfake.Opt
}{{"embedded", nil}, {"kafka-4.0", []kfake.Opt{kfake.MaxVersions(kversion.V4_0_0())}}}

// txnSetup is a broker with topics in (the input), out and g-table, each
// of one partition, and in holding 10 messages.
func txnSetup(t *testing.T, opts ...kfake.Opt) kafkaconf.Kafka {
	t.Helper()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	kc := kafkaconf.Kafka{Brokers: []string{b.Addr()}, SessionTimeout: 2 * time.Second}.WithDefaults()
	_, admin, err := kc.Admin("test")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"in", "out", "g-table"} {
		if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	p, err := exactlyonce.NewBatchProducer(kc, "test-input")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 10 {
		if err := wait(p.Emit("in", fmt.Sprint(i), []byte("in"))); err != nil {
			t.Fatal(err)
		}
	}
	return kc
}

// join runs a member of group g through txns until ctx ends and returns it
// once it claims in/0.
func join(t *testing.T, ctx context.Context, kc kafkaconf.Kafka, txns *exactlyonce.Transactions) *member {
	t.Helper()
	cfg, err := kc.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(kc.Brokers, "g", cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{claims: make(chan sarama.ConsumerGroupClaim, 4), first: make(chan int64, 1)}
	h := exactlyonce.Wrap(txns, m)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{"in"}, h); err != nil && ctx.Err() == nil {
				t.Logf("consume: %v", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { <-done; cg.Close() })
	select {
	case <-m.claims:
	case <-time.After(20 * time.Second):
		t.Fatal("no claim")
	}
	return m
}

// batch writes records to out and commits input offset next in one
// transaction of in/0's writer.
func batch(ctx context.Context, txns *exactlyonce.Transactions, next int64, values ...string) error {
	tx, err := txns.Partition(0)
	if err != nil {
		return err
	}
	if err := tx.Begin(); err != nil {
		return err
	}
	for _, v := range values {
		if err := wait(tx.EmitWithHeaders("out", v, []byte(v), nil)); err != nil {
			return tx.Abort(ctx, err)
		}
	}
	return tx.Commit(ctx, []exactlyonce.Offset{{Topic: "in", Next: next}})
}

// wait waits for a promise and returns its error.
func wait(p *goka.Promise) error {
	done := make(chan error, 1)
	p.Then(func(err error) { done <- err })
	return <-done
}

// readCommitted reads topic/0 as a read-committed sarama consumer
// (kafkaconf's) and as a read-committed franz-go consumer, and fails the
// test unless both read the same values; it returns them.
func readCommitted(t *testing.T, kc kafkaconf.Kafka, topic string) []string {
	t.Helper()
	c := testkit.Consumer(t, kc)
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var bySarama []string
	for quiet := false; !quiet; {
		select {
		case m := <-pc.Messages():
			bySarama = append(bySarama, string(m.Value))
		case <-time.After(time.Second):
			quiet = true
		}
	}
	opts, err := kc.KgoOptions()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var byKgo []string
	for {
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) { byKgo = append(byKgo, string(r.Value)) })
	}
	if !slices.Equal(bySarama, byKgo) {
		t.Errorf("%s read committed: sarama %q, franz-go %q", topic, bySarama, byKgo)
	}
	return bySarama
}

// committed is the group's committed offset of in/0, as a new member's
// claim starts at it.
func committed(t *testing.T, kc kafkaconf.Kafka) int64 {
	t.Helper()
	_, admin, err := kc.Admin("test-offsets")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets("g", map[string][]int32{"in": {0}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetBlock("in", 0).Offset
}

// TestTxnFencing: a batch's records and input offset commit together; a
// second writer of the same transactional ID (the partition's next owner)
// fences the first, whose batch then fails with ErrFenced and is seen by
// no read-committed reader, and the offset stays where the last committed
// batch put it.
func TestTxnFencing(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) { txnFencing(t, txnSetup(t, b.opts...)) })
	}
}

func txnFencing(t *testing.T, kc kafkaconf.Kafka) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	txns := exactlyonce.NewTransactions(kc, "g", nil)
	defer txns.Close()
	join(t, ctx, kc, txns)

	if err := batch(ctx, txns, 4, "a1", "a2"); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, kc); got != 4 {
		t.Errorf("committed offset %d after the first batch, want 4", got)
	}

	// The next owner of in/0 opens its writer.
	next := exactlyonce.NewTransactions(kc, "g", nil)
	defer next.Close()
	if err := exactlyonce.OpenForTest(ctx, next, "in", 0); err != nil {
		t.Fatal(err)
	}
	err := batch(ctx, txns, 8, "zombie")
	if !errors.Is(err, exactlyonce.ErrFenced) {
		t.Errorf("fenced writer's batch: %v, want ErrFenced", err)
	}
	if got := readCommitted(t, kc, "out"); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("out read committed: %q, want the first batch only", got)
	}
	if got := committed(t, kc); got != 4 {
		t.Errorf("committed offset %d after the fenced batch, want 4", got)
	}
}

// TestTxnStaleGeneration: a member that commits with a generation the
// group has left behind fails, ErrFenced, and its batch is aborted: no
// read-committed reader sees it and the offset does not move. A new
// session's claim starts at the offset the last committed batch put.
func TestTxnStaleGeneration(t *testing.T) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) { txnStaleGeneration(t, txnSetup(t, b.opts...)) })
	}
}

func txnStaleGeneration(t *testing.T, kc kafkaconf.Kafka) {
	ctx, cancel := context.WithCancel(context.Background())
	txns := exactlyonce.NewTransactions(kc, "g", nil)
	defer txns.Close()
	join(t, ctx, kc, txns)

	if err := batch(ctx, txns, 3, "b1"); err != nil {
		t.Fatal(err)
	}
	txns.SetGeneration(txns.Generation() - 1)
	err := batch(ctx, txns, 7, "stale")
	if !errors.Is(err, exactlyonce.ErrFenced) {
		t.Errorf("stale generation's batch: %v, want ErrFenced", err)
	}
	if got := readCommitted(t, kc, "out"); !slices.Equal(got, []string{"b1"}) {
		t.Errorf("out read committed: %q, want b1 only", got)
	}
	if got := committed(t, kc); got != 3 {
		t.Errorf("committed offset %d, want 3", got)
	}
	cancel()

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	again := exactlyonce.NewTransactions(kc, "g", nil)
	defer again.Close()
	m := join(t, ctx, kc, again)
	select {
	case first := <-m.first:
		if first != 3 {
			t.Errorf("the new session's first message is at %d, want 3", first)
		}
	case <-time.After(10 * time.Second):
		t.Error("the new session got no message")
	}
}

// TestTxnTableRecovers: a goka view of a table written in transactions,
// the last of them aborted, recovers (goka would wait forever for the
// record before the high-water mark, a transaction marker) and holds the
// committed states only.
func TestTxnTableRecovers(t *testing.T) {
	kc := txnSetup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	txns := exactlyonce.NewTransactions(kc, "g", nil)
	defer txns.Close()
	join(t, ctx, kc, txns)

	write := func(next int64, abort bool, kv ...string) {
		t.Helper()
		tx, err := txns.Partition(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Begin(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kv); i += 2 {
			if err := wait(tx.EmitWithHeaders("g-table", kv[i], []byte(kv[i+1]), nil)); err != nil {
				t.Fatal(err)
			}
		}
		if abort {
			if err := tx.Abort(ctx, errors.New("test")); err == nil {
				t.Fatal("abort returned no error")
			}
			return
		}
		if err := tx.Commit(ctx, []exactlyonce.Offset{{Topic: "in", Next: next}}); err != nil {
			t.Fatal(err)
		}
	}
	write(2, false, "k1", "v1", "k2", "v2")
	write(4, false, "k2", "v2'")
	write(6, true, "k1", "aborted", "k3", "aborted")

	opts, err := kc.ViewOptions()
	if err != nil {
		t.Fatal(err)
	}
	v, err := goka.NewView(kc.Brokers, goka.Table("g-table"), new(codec.String),
		append(opts, goka.WithViewStorageBuilder(storage.MemoryBuilder()))...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	testkit.Eventually(t, 15*time.Second, func() error {
		if !v.Recovered() {
			return errors.New("view not recovered")
		}
		return nil
	})
	for key, want := range map[string]any{"k1": "v1", "k2": "v2'", "k3": nil} {
		got, err := v.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	cancel()
	<-done
}
