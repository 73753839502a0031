package exactlyonce

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
)

type msgClaim struct {
	sarama.ConsumerGroupClaim
	msgs chan *sarama.ConsumerMessage
}

func (c msgClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

// TestStartAt: a claim that sarama started below the stable committed
// offset hands on only the messages from that offset, in order, and ends
// when sarama's does; a session that ends meanwhile drains sarama's
// channel so that sarama can close the claim.
func TestStartAt(t *testing.T) {
	in := msgClaim{msgs: make(chan *sarama.ConsumerMessage, 10)}
	for off := range int64(10) {
		in.msgs <- &sarama.ConsumerMessage{Offset: off}
	}
	close(in.msgs)
	var got []int64
	for m := range startAt(context.Background(), in, 6).Messages() {
		got = append(got, m.Offset)
	}
	if len(got) != 4 || got[0] != 6 || got[3] != 9 {
		t.Errorf("offsets %v, want 6..9", got)
	}

	in = msgClaim{msgs: make(chan *sarama.ConsumerMessage)}
	ctx, cancel := context.WithCancel(context.Background())
	out := startAt(ctx, in, 0)
	in.msgs <- &sarama.ConsumerMessage{Offset: 0} // taken, not handed on
	cancel()
	in.msgs <- &sarama.ConsumerMessage{Offset: 1} // drained
	close(in.msgs)
	for range out.Messages() {
	}
}
