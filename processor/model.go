// Package processor is the update path: the goka callback that decodes,
// validates, de-duplicates and applies every sample to its sensor's models
// and sends bad input to the dead-letter topic; the micro-batches that write
// each updated sensor's state once per batch; and the processor's lifecycle
// (topic creation, restart with backoff, clean shutdown, replay).
package processor

import (
	"errors"
	"fmt"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/rls"
)

// Learner is what the processor learns per key: it makes, decodes and
// sizes a key's State. The RLS bank (a bank of rls.Model) is one; anything
// with a state codec and a per-sample update plugs in the same way (the
// tests plug a running mean).
type Learner interface {
	// New returns the state of a key whose first sample has dim features.
	New(dim int) (State, error)
	// Decode reads a state written by State.Append.
	Decode(payload []byte) (State, error)
	// StateSize is the encoded size of a state of dimension dim, so that a
	// sensor whose state the table cannot hold is refused before its first
	// write.
	StateSize(dim int) int
}

// State is one key's learned state.
type State interface {
	// Apply applies one sample. An error leaves the state as it was and
	// becomes the sample's rejection reason.
	Apply(x []float64, y float64) error
	// Append appends the encoded state to dst.
	Append(dst []byte) []byte
}

// DefaultMaxDim is the largest --max-dim: the decoder refuses larger
// samples before it allocates for them.
const DefaultMaxDim = codec.DefaultMaxDim

// DefaultFleetMaxDim is the default Config.MaxDim (of a learner whose
// states fit at that size): room for the features of a sensor's regression,
// while a key that sends one sample of junk can make the table keep no more
// than one state of this dimension (about 34 KB for the default bank).
const DefaultFleetMaxDim = 64

// DefaultMaxValueBytes is the default Config.MaxValueBytes: a micro-batch of
// thousands of samples fits; a larger value is refused before it is decoded.
const DefaultMaxValueBytes = 1 << 20

// MaxStateBytes is the largest state the table holds: one record under
// the producer's message limit (kafkaconf.MaxMessageBytes), less what the
// record needs besides its value.
const MaxStateBytes = kafkaconf.MaxMessageBytes - recordOverhead - codec.EnvelopeHeaderLen

// recordOverhead is what a table or dead-letter record needs besides its
// value: record batch and record headers, the key (at most MaxKeyBytes)
// and streamrls's headers (bounded, see deadLetter).
const recordOverhead = 16 << 10

// MaxDimFor is the default --max-dim of a model: the largest dimension
// whose state fits in one table record (MaxStateBytes), at most
// DefaultMaxDim. For the default bank (two models) it is 357.
func MaxDimFor(m Learner) int {
	lo, hi := 0, DefaultMaxDim // the largest fitting dimension is in [lo, hi]
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if m.StateSize(mid) <= MaxStateBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Record is one key's value in the group table: the processor's bookkeeping
// and the model state (nil for a key that never had a valid sample).
type Record struct {
	codec.Meta
	State State
	// Lags are the sensor's recent values of y when it is autoregressive
	// (Handler.AR); they are part of its state, written with it.
	Lags codec.Lags

	size    int  // bytes of its last encoding: the buffer size of the next
	current bool // State is in the learner's current configuration (see RLS.Reconcile)
	// batchAt is 1 + its place in the updated list of the batch that last
	// took it (see partBatch.set); stale once that batch is cut.
	batchAt int
}

// TableCodec is the goka codec of the group table for a Learner.
type TableCodec struct{ Learner Learner }

// Encode encodes a *Record.
func (c TableCodec) Encode(v any) ([]byte, error) {
	r, ok := v.(*Record)
	if !ok {
		return nil, fmt.Errorf("table codec: want *processor.Record, got %T", v)
	}
	// One buffer of the right size, envelope header first, state appended
	// after it: no copy of the state. A fresh buffer every time, because
	// goka hands it to the producer and to the local table, which keep it.
	size := r.size
	if size < codec.EnvelopeHeaderLen {
		size = codec.EnvelopeHeaderLen + 1024
	}
	b := codec.AppendEnvelopeLags(make([]byte, 0, size), r.Meta, r.Lags, nil)
	if r.State != nil {
		b = r.State.Append(b)
	}
	r.size = len(b)
	return b, nil
}

// Decode decodes a *Record.
func (c TableCodec) Decode(b []byte) (any, error) {
	meta, lags, payload, err := codec.SplitEnvelopeLags(b)
	if err != nil {
		return nil, fmt.Errorf("table codec: %w", err)
	}
	r := &Record{Meta: meta, Lags: lags, size: len(b)}
	if len(payload) > 0 {
		if r.State, err = c.Learner.Decode(payload); err != nil {
			return nil, fmt.Errorf("table codec: model state: %w", err)
		}
	}
	return r, nil
}

// RLS is the bank of RLS models (package rls) as a Learner.
type RLS struct {
	Specs []rls.Spec
	// Scoring is the tests every sample goes through (anomaly threshold,
	// drift detector and action); nil: rls.DefaultScoring. Shared by every
	// state, read-only.
	Scoring *rls.Scoring
}

// BankState is the RLS bank of one sensor. Its models score every sample
// they apply (Score), which the handler publishes.
type BankState struct {
	Bank    *rls.Bank
	Scoring *rls.Scoring // nil: rls.DefaultScoring
}

// New makes a bank of every spec with dimension dim.
func (m RLS) New(dim int) (State, error) {
	if len(m.Specs) == 0 {
		return nil, errors.New("rls: no models configured")
	}
	blk := &bankBlock{b: rls.Bank{Dim: dim, Models: rls.NewModels(m.Specs, dim)}}
	blk.s = BankState{Bank: &blk.b, Scoring: m.Scoring}
	return &blk.s, nil
}

// bankBlock allocates a BankState and its bank together: each update reads
// both, and at many sensors from memory.
type bankBlock struct {
	s BankState
	b rls.Bank
}

// StateSize is the encoded size of a bank of dimension dim.
func (m RLS) StateSize(dim int) int { return codec.BankSize(m.Specs, dim) }

// Decode decodes a bank.
func (m RLS) Decode(payload []byte) (State, error) {
	blk := new(bankBlock)
	if err := codec.DecodeBankInto(&blk.b, payload); err != nil {
		return nil, err
	}
	blk.s = BankState{Bank: &blk.b, Scoring: m.Scoring}
	return &blk.s, nil
}

// Apply updates and scores every model of the bank, or none.
func (s *BankState) Apply(x []float64, y float64) error { return s.Bank.UpdateScored(x, y, s.Scoring) }

// Scores is the number of models.
func (s *BankState) Scores() int { return len(s.Bank.Models) }

// Score is model i's name, samples and score of the last sample. It does
// not allocate: the handler calls it for every sample.
func (s *BankState) Score(i int) (string, uint64, rls.Score) {
	m := s.Bank.Models[i]
	return m.Name, m.Samples, m.LastScore()
}

// Append encodes the bank.
func (s *BankState) Append(dst []byte) []byte { return codec.AppendBank(dst, s.Bank) }

// Report gives each model's MSE figures (for the per-sensor gauges).
func (s *BankState) Report(fn func(model string, mse, recentMSE float64)) {
	for _, m := range s.Bank.Models {
		fn(m.Name, m.MSE, m.RecentMSE)
	}
}
