package exactlyonce

import (
	"sync"

	"github.com/IBM/sarama"
)

// A CommitGate keeps a consumer group's marked offsets behind the messages
// whose results are not written yet, so that a processor can let goka
// commit each message as its callback returns and still never commit past
// one whose results are pending.
//
// A processor that writes its results in batches holds the first message
// of each batch (Hold) and releases it once the batch is acknowledged
// (Release). Meanwhile goka marks the batch's later messages as usual, but
// the gate passes a partition's marks on only up to its oldest held
// message: the committed offset, the next message to read, never passes
// it. On Release the marks held back are passed on up to the next hold.
// A batch that fails is never released, so nothing after it is committed.
//
// Without the gate such a processor has to defer every message's commit,
// and goka keeps each deferred message's context until then: at 100,000
// sensors a batch holds hundreds of thousands of them.
//
// The gate wraps the sessions of the consumer group built with it by
// ProcessorOptions (sarama's MarkOffset and MarkMessage); a new
// session starts with no holds. Its methods are safe for concurrent use.
type CommitGate struct {
	parts sync.Map // topicPartition → *gateState
}

// gateState is one partition's holds and marks. Each has its own lock: a
// mark is taken for every message, by every partition's goroutine.
type gateState struct {
	mu      sync.Mutex
	holds   []int64 // held offsets, oldest first
	wanted  int64   // newest offset goka marked (the next message to read)
	meta    string
	marked  int64 // newest offset passed on
	session sarama.ConsumerGroupSession
}

// NewCommitGate returns a gate with no holds.
func NewCommitGate() *CommitGate { return &CommitGate{} }

// state returns the partition's state, locked.
func (g *CommitGate) state(topic string, partition int32) *gateState {
	k := topicPartition{topic, partition}
	v, ok := g.parts.Load(k)
	if !ok {
		v, _ = g.parts.LoadOrStore(k, &gateState{wanted: -1, marked: -1})
	}
	s := v.(*gateState)
	s.mu.Lock()
	return s
}

// Hold keeps the committed offset of topic/partition at or below offset —
// the message at offset is read again after a crash — until Release is
// called with the same offset. Holds of a partition are taken in offset
// order.
func (g *CommitGate) Hold(topic string, partition int32, offset int64) {
	s := g.state(topic, partition)
	defer s.mu.Unlock()
	s.holds = append(s.holds, offset)
}

// Release ends the hold at offset and passes on the marks it held back,
// up to the next hold.
func (g *CommitGate) Release(topic string, partition int32, offset int64) {
	s := g.state(topic, partition)
	defer s.mu.Unlock()
	for i, h := range s.holds {
		if h == offset {
			s.holds = append(s.holds[:i], s.holds[i+1:]...)
			break
		}
	}
	s.pass(topic, partition)
}

// mark records goka's mark of the next offset to read and passes on what
// the holds allow.
func (g *CommitGate) mark(session sarama.ConsumerGroupSession, topic string, partition int32, offset int64, meta string) {
	s := g.state(topic, partition)
	defer s.mu.Unlock()
	s.session = session
	if offset > s.wanted {
		s.wanted, s.meta = offset, meta
	}
	s.pass(topic, partition)
}

// pass marks the wanted offset, or the oldest hold if that is older.
// sarama's marks only move forward; so do these. The caller holds s.mu.
func (s *gateState) pass(topic string, partition int32) {
	to := s.wanted
	if len(s.holds) > 0 {
		to = min(to, s.holds[0])
	}
	if to <= s.marked || s.session == nil {
		return
	}
	s.marked = to
	s.session.MarkOffset(topic, partition, to, s.meta)
}

// reset forgets every partition's holds and marks: a new session starts
// (before goka gets it: nothing marks or holds meanwhile).
func (g *CommitGate) reset() { g.parts.Clear() }

func (g *CommitGate) wrap(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return gatedHandler{h, g}
}

// gatedHandler hands goka's handler sessions whose marks go through the
// gate.
type gatedHandler struct {
	sarama.ConsumerGroupHandler
	gate *CommitGate
}

func (h gatedHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.gate.reset()
	return h.ConsumerGroupHandler.Setup(h.gate.Session(s))
}

func (h gatedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	return h.ConsumerGroupHandler.Cleanup(h.gate.Session(s))
}

func (h gatedHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return h.ConsumerGroupHandler.ConsumeClaim(h.gate.Session(s), c)
}

// Session returns s with its marks (MarkOffset, MarkMessage) going through
// the gate; the consumer group of ProcessorOptions hands goka such
// sessions.
func (g *CommitGate) Session(s sarama.ConsumerGroupSession) sarama.ConsumerGroupSession {
	return gatedSession{s, g}
}

type gatedSession struct {
	sarama.ConsumerGroupSession
	gate *CommitGate
}

func (s gatedSession) MarkOffset(topic string, partition int32, offset int64, meta string) {
	s.gate.mark(s.ConsumerGroupSession, topic, partition, offset, meta)
}

func (s gatedSession) MarkMessage(msg *sarama.ConsumerMessage, meta string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, meta)
}
