package exactlyonce

import (
	"math/rand/v2"
	"testing"

	"github.com/IBM/sarama"
)

// markSession records the marks passed on to sarama.
type markSession struct {
	sarama.ConsumerGroupSession
	marks map[int32][]int64
}

func (s *markSession) MarkOffset(topic string, partition int32, offset int64, _ string) {
	if s.marks == nil {
		s.marks = map[int32][]int64{}
	}
	s.marks[partition] = append(s.marks[partition], offset)
}

func (s *markSession) last(p int32) int64 {
	if m := s.marks[p]; len(m) > 0 {
		return m[len(m)-1]
	}
	return -1
}

// TestCommitGateFrontier runs a batching processor's commit pattern
// against the gate: messages in batches of random sizes, each batch's first
// message held and its commit deferred, every other message marked as soon
// as it is processed, and batches acknowledged in order at random moments
// while later ones fill. After every step the offset passed on to sarama
// must be the one an exactly-once commit allows, computed independently:
// the first message that is processed but whose batch is not acknowledged
// yet, or the message after the last processed one. Marks never go back.
func TestCommitGateFrontier(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		g := NewCommitGate()
		ms := &markSession{}
		s := g.Session(ms)
		const topic, p = "in", int32(3)
		var (
			batchOf  []int        // message offset → batch
			first    []int64      // batch → its first message
			acked    []bool       // batch → acknowledged
			nextAck  int          // oldest batch not acknowledged
			openSize int          // messages of the open batch so far
			want             = -1 // batch size of the open batch
			prev     int64   = -1
		)
		check := func(step string) {
			t.Helper()
			expect := int64(len(batchOf)) // every processed message acknowledged
			for off, b := range batchOf {
				if !acked[b] {
					expect = int64(off)
					break
				}
			}
			got := max(ms.last(p), 0) // no mark yet: read from the first message

			if got != expect {
				t.Fatalf("seed %d, after %s: marked %d, want %d (batches acked up to %d of %d)", seed, step, got, expect, nextAck, len(first))
			}
			if got < prev {
				t.Fatalf("seed %d: mark went back from %d to %d", seed, prev, got)
			}
			prev = got
		}
		ack := func() {
			b := nextAck
			nextAck++
			acked[b] = true
			g.Release(topic, p, first[b])
			s.MarkOffset(topic, p, first[b]+1, "") // the deferred commit of its first message
			check("an acknowledgement")
		}
		for off := int64(0); off < 500; off++ {
			if want < 0 || openSize == want {
				want, openSize = 1+rng.IntN(12), 0
				first = append(first, off)
				acked = append(acked, false)
				g.Hold(topic, p, off)
			}
			b := len(first) - 1
			batchOf = append(batchOf, b)
			openSize++
			if off != first[b] {
				s.MarkMessage(&sarama.ConsumerMessage{Topic: topic, Partition: p, Offset: off}, "")
			}
			check("a message")
			for nextAck < b && rng.IntN(3) == 0 {
				ack()
			}
		}
		for nextAck < len(first) {
			ack()
		}
		if got := ms.last(p); got != 500 {
			t.Fatalf("seed %d: marked %d at the end, want 500", seed, got)
		}
	}
}

// TestCommitGateFailedBatch: a batch that is never released keeps the
// partition's marks at its first message, whatever is marked after it;
// other partitions and topics are not held.
func TestCommitGateFailedBatch(t *testing.T) {
	g := NewCommitGate()
	ms := &markSession{}
	s := g.Session(ms)
	g.Hold("in", 0, 10)
	for off := int64(11); off < 40; off++ {
		s.MarkOffset("in", 0, off+1, "")
	}
	s.MarkOffset("in", 1, 7, "")
	if got := ms.last(0); got != 10 {
		t.Errorf("partition 0 marked at %d, want 10 (the held message)", got)
	}
	if got := ms.last(1); got != 7 {
		t.Errorf("partition 1 marked at %d, want 7 (not held)", got)
	}
	g.Release("in", 0, 10)
	if got := ms.last(0); got != 40 {
		t.Errorf("after the release partition 0 marked at %d, want 40", got)
	}
}

// TestCommitGateNewSession: a new session starts without the holds of the
// last one.
func TestCommitGateNewSession(t *testing.T) {
	g := NewCommitGate()
	h := gatedHandler{ConsumerGroupHandler: nopHandler{}, gate: g}
	g.Hold("in", 0, 5)
	ms := &markSession{}
	if err := h.Setup(ms); err != nil {
		t.Fatal(err)
	}
	g.Session(ms).MarkOffset("in", 0, 9, "")
	if got := ms.last(0); got != 9 {
		t.Errorf("marked %d in the new session, want 9", got)
	}
}

type nopHandler struct{}

func (nopHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (nopHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (nopHandler) ConsumeClaim(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error {
	return nil
}
