package exactlyonce

import (
	"testing"

	"github.com/IBM/sarama"
)

type fakeClaim struct {
	sarama.ConsumerGroupClaim
	topic string
	p     int32
	hwm   int64
}

func (c *fakeClaim) Topic() string              { return c.topic }
func (c *fakeClaim) Partition() int32           { return c.p }
func (c *fakeClaim) HighWaterMarkOffset() int64 { return c.hwm }

type claimFunc func(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error

func (f claimFunc) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (f claimFunc) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (f claimFunc) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return f(s, c)
}

// TestClaimsHighWaterMark: while goka consumes a claim its high-water mark
// is the claim's, as sarama's fetches move it; before and after, it is
// unknown, and other partitions are not mixed in.
func TestClaimsHighWaterMark(t *testing.T) {
	c := NewClaims()
	claim := &fakeClaim{topic: "in", p: 2, hwm: 40}
	h := c.wrap(claimFunc(func(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error {
		if got, ok := c.HighWaterMark("in", 2); !ok || got != 40 {
			t.Errorf("while consuming: %d, %v; want 40, true", got, ok)
		}
		claim.hwm = 55
		if got, _ := c.HighWaterMark("in", 2); got != 55 {
			t.Errorf("after a fetch: %d, want 55", got)
		}
		if _, ok := c.HighWaterMark("in", 3); ok {
			t.Error("partition 3, not claimed, has a high-water mark")
		}
		return nil
	}))
	if _, ok := c.HighWaterMark("in", 2); ok {
		t.Error("a high-water mark before the claim")
	}
	if err := h.ConsumeClaim(nil, claim); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.HighWaterMark("in", 2); ok {
		t.Error("a high-water mark after the claim ended")
	}
}
