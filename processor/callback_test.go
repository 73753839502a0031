package processor

import (
	"testing"
	"time"
)

// TestStatelessSensor: a message without a valid sample, for a sensor that
// has no state, writes the sensor's state (its rejected count) in a batch of
// one, whose acknowledgements must stay in order, and none in a timed
// batch; both dead-letter it.
func TestStatelessSensor(t *testing.T) {
	t.Run("batch of one", func(t *testing.T) {
		h := newTestHandler(0)
		c := &fakeCtx{key: "s", off: 7, owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
		h.Process(c, []byte("oops"))
		rec := stored(t, c, "s")
		if rec.State != nil || rec.Rejected != 1 || rec.Samples != 0 || rec.Offset != 7 {
			t.Errorf("state %+v, want no model, 1 rejected, 0 samples, offset 7", rec.Meta)
		}
		if c.emits != 1 {
			t.Errorf("%d emits, want the dead letter", c.emits)
		}
	})
	t.Run("timed batch", func(t *testing.T) {
		r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
		r.process("s", 7, []byte("oops"))
		r.batch().flush(false)
		if n := len(r.prod.written[r.h.batches.table]); n != 0 {
			t.Errorf("%d states written, want none", n)
		}
		if n := len(r.prod.written[r.h.Names.DeadLetter]); n != 1 {
			t.Errorf("%d dead letters, want 1", n)
		}
		if got := r.committed(); len(got) != 1 || got[0] != (commitRec{offset: 7}) {
			t.Errorf("commits %v, want offset 7 without error", got)
		}
	})
}

// TestDuplicateRewritesState: in a batch of one, a redelivered message
// writes its sensor's unchanged state again (docs/design.md, "Exactly once
// in effect": the rule of writes without transactions), and the counts
// follow every write.
func TestDuplicateRewritesState(t *testing.T) {
	keys, values := messages(1, 2, 1)
	h := newTestHandler(0)
	c := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: h.Learner}}
	for k := range keys {
		c.key, c.off = keys[k], int64(k)
		h.Process(c, values[k])
	}
	want := string(c.table[keys[0]])
	c.sets = 0
	h.Process(c, values[1]) // offset 1 again
	if c.sets != 1 || string(c.table[keys[0]]) != want {
		t.Errorf("%d state writes of the duplicate (want 1), state changed: %v", c.sets, string(c.table[keys[0]]) != want)
	}
	n := h.counts()
	if d, w, s := n.Duplicates.Load(), n.Written.Load(), n.StateWrites.Load(); d != 1 || w != 2 || s != 3 {
		t.Errorf("duplicates %d, samples written %d, state writes %d: want 1, 2, 3", d, w, s)
	}
}
