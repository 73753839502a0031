package exactlyonce

import (
	"sync"

	"github.com/IBM/sarama"
)

// Claims tracks the partitions a processor's consumer group sessions
// claim, so that the processor can tell how far its input goes: goka's
// callbacks see only their own message. Build the consumer group with it
// through ProcessorOptions. Its methods are safe for concurrent use.
type Claims struct {
	mu     sync.Mutex
	claims map[topicPartition]sarama.ConsumerGroupClaim
}

// NewClaims returns a tracker of no claims.
func NewClaims() *Claims { return &Claims{claims: map[topicPartition]sarama.ConsumerGroupClaim{}} }

// HighWaterMark returns the offset after the newest message of
// topic/partition as sarama's last fetch saw it, and false when no session
// claims the partition now. A processor whose next message is at that
// offset has read all there is.
func (c *Claims) HighWaterMark(topic string, partition int32) (int64, bool) {
	c.mu.Lock()
	cl := c.claims[topicPartition{topic, partition}]
	c.mu.Unlock()
	if cl == nil {
		return 0, false
	}
	return cl.HighWaterMarkOffset(), true
}

func (c *Claims) wrap(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return claimsHandler{h, c}
}

type claimsHandler struct {
	sarama.ConsumerGroupHandler
	c *Claims
}

func (h claimsHandler) ConsumeClaim(s sarama.ConsumerGroupSession, cl sarama.ConsumerGroupClaim) error {
	k := topicPartition{cl.Topic(), cl.Partition()}
	h.c.mu.Lock()
	h.c.claims[k] = cl
	h.c.mu.Unlock()
	defer func() {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		if h.c.claims[k] == cl {
			delete(h.c.claims, k)
		}
	}()
	return h.ConsumerGroupHandler.ConsumeClaim(s, cl)
}
