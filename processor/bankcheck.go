package processor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
)

// checkBank reads the newest state of every partition of the group's
// table and compares its bank with the configured learner's: a change is
// logged at start, and a model whose λ or δ changed is refused with a
// *BankError before anything is processed. A table that does not exist yet
// or cannot be read is no error: the handler reconciles every state it
// reads anyway.
func checkBank(ctx context.Context, cfg Config, log *slog.Logger) error {
	r, ok := cfg.Learner.(RLS)
	if !ok {
		return nil
	}
	client, admin, err := cfg.Kafka.Admin("streamrls-bank-check")
	if err != nil {
		return nil
	}
	defer admin.Close()
	topic := cfg.Names.Table()
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil
	}
	defer cons.Close()
	codec := TableCodec{Learner: cfg.Learner}
	logged := false
	for _, p := range parts {
		b := newestValue(ctx, cfg.Kafka, client, cons, topic, p)
		if b == nil {
			continue
		}
		v, err := codec.Decode(b)
		if err != nil || v.(*Record).State == nil {
			continue
		}
		_, change, err := r.Reconcile(v.(*Record).State)
		if err != nil {
			return err
		}
		if change != nil && !logged {
			log.Info("the table's model bank differs from the configured one", "table", topic, "change", change.String())
			logged = true
		}
	}
	return nil
}

// newestValue is the newest non-null value of one table partition among
// its last few records, nil if there is none.
func newestValue(ctx context.Context, k kafkaconf.Kafka, client sarama.Client, cons sarama.Consumer, topic string, p int32) []byte {
	oldest, err1 := client.GetOffset(topic, p, sarama.OffsetOldest)
	hwm, err2 := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err := errors.Join(err1, err2); err != nil || hwm <= oldest {
		return nil
	}
	// The table is written in transactions: its last record may be a
	// marker, which the consumer is not handed.
	newest, err := k.CommittedEnd(ctx, topic, p, oldest, hwm)
	if err != nil || newest <= oldest {
		return nil
	}
	from := max(oldest, newest-8)
	pc, err := cons.ConsumePartition(topic, p, from)
	if err != nil {
		return nil
	}
	defer pc.Close()
	var last []byte
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			if m.Value != nil {
				last = m.Value
			}
			if m.Offset >= newest-1 {
				return last
			}
		case <-timeout:
			return last
		case <-ctx.Done():
			return last
		}
	}
}
