package exactlyonce

import (
	"context"

	"github.com/IBM/sarama"
)

// Wrap is h's handler around inner, as the consumer group of
// ProcessorOptions builds it.
func Wrap(h GroupHook, inner sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return h.wrap(inner)
}

// Generation is the generation the transactions commit offsets with;
// SetGeneration replaces it, as a member whose session ended would hold it.
func (t *Transactions) Generation() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.member.generation
}

func (t *Transactions) SetGeneration(g int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.member.generation = g
}

// OpenForTest opens t's writer of topic/partition, as a session that
// claims it does.
func OpenForTest(ctx context.Context, t *Transactions, topic string, p int32) error {
	tx, err := t.openTxn(ctx, topic, p)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.txns[p] = tx
	return nil
}
