package exactlyonce

import (
	"context"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// rejoinGroupBuilder builds goka's consumer group so that a processor
// rejoins its group at once after a rebalance.
//
// goka v1.1.16's Processor.rebalanceLoop waits a fixed 5 seconds after every
// consumer-group session before it joins again ("Consumer group returned,
// Rebalancing."). When a second processor joins, the first one's session
// ends; it then sits out those 5 seconds, longer than a short rebalance
// timeout, so the coordinator drops it and gives every partition to the
// newcomer; when it comes back, the newcomer is dropped in turn, and so on:
// seen with three `streamrls process` at --session-timeout 2s, only one
// applied samples at any time. Running sarama's Consume again inside the
// wrapper, until ctx ends or it fails, keeps the member in the group across
// rebalances; errors still end goka's loop as before.
//
// The hooks see every session, in order, before goka does.
func rejoinGroupBuilder(cfg *sarama.Config, hooks []GroupHook) goka.ConsumerGroupBuilder {
	inner := goka.ConsumerGroupBuilderWithConfig(cfg)
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := inner(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return rejoinGroup{cg, hooks}, nil
	}
}

type rejoinGroup struct {
	sarama.ConsumerGroup
	hooks []GroupHook
}

func (r rejoinGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	for i := len(r.hooks) - 1; i >= 0; i-- {
		h = r.hooks[i].wrap(h)
	}
	for {
		began := time.Now()
		err := r.ConsumerGroup.Consume(ctx, topics, h)
		if err != nil || ctx.Err() != nil {
			return err
		}
		// A session that ends at once (no partitions yet, a rebalance
		// storm) must not spin.
		if time.Since(began) < 100*time.Millisecond {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
