package kafkaconf_test

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/internal/testkit"
)

// TestCommittedEnd: the end of a partition for a read-committed reader is
// the offset after its newest committed data record, whatever follows it:
// a commit marker, an aborted transaction and its marker, an open
// transaction. A partition written without transactions ends at its
// high-water mark, an empty one at its oldest offset.
func TestCommittedEnd(t *testing.T) {
	_, kc := testkit.Broker(t)
	ctx := context.Background()
	client, admin, err := kc.Admin("test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, topic := range []string{"plain", "txn", "empty"} {
		if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := kc.KgoOptions()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("plain"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for range 5 {
		if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("txn"), kgo.TransactionalID("test-txn"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	end := func(topic string) int64 {
		t.Helper()
		if err := client.RefreshMetadata(topic); err != nil {
			t.Fatal(err)
		}
		oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		hwm, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		e, err := kc.CommittedEnd(ctx, topic, 0, oldest, hwm)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	txn := func(n int, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte("t")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}

	if got := end("plain"); got != 5 {
		t.Errorf("plain: end %d, want 5", got)
	}
	if got := end("empty"); got != 0 {
		t.Errorf("empty: end %d, want 0", got)
	}
	txn(2, kgo.TryCommit) // 0, 1, marker 2
	if got := end("txn"); got != 2 {
		t.Errorf("after a commit: end %d, want 2", got)
	}
	txn(40, kgo.TryAbort) // 3..42, marker 43: more than the first window
	if got := end("txn"); got != 2 {
		t.Errorf("after an abort: end %d, want 2", got)
	}
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := end("txn"); got != 2 {
		t.Errorf("with an open transaction: end %d, want 2", got)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := end("txn"); got != 45 {
		t.Errorf("once it committed: end %d, want 45", got)
	}
}
