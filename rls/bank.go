package rls

import (
	"fmt"
	"sync"
)

// Bank is the models of one key (sensor), all of one dimension, learning
// from the same samples.
type Bank struct {
	Dim    int
	Models []*Model
}

// NewBank returns a bank with one fresh model per spec, laid out together
// (NewModels). The specs should be valid (ValidateSpecs). It panics if
// dim < 0.
func NewBank(specs []Spec, dim int) *Bank {
	return &Bank{Dim: dim, Models: NewModels(specs, dim)}
}

// Update applies one sample to every model, all or nothing: if any model
// rejects the sample, no model changes, and the error names that model
// (wrapping ErrDim, ErrNonFinite, ErrNumeric or ErrState; test with
// errors.Is). It scores the sample with DefaultScoring (Model.Update); each
// model's LastScore returns its score. It does not allocate unless it fails.
func (b *Bank) Update(x []float64, y float64) error {
	return b.UpdateScored(x, y, nil)
}

// UpdateScored is Update with the scoring configuration sc for every model
// (nil: the defaults).
func (b *Bank) UpdateScored(x []float64, y float64, sc *Scoring) error {
	r := &defaultScoring
	if sc != nil {
		var buf Scoring
		r = sc.resolve(&buf)
	}
	n := b.Dim
	if len(x) != n {
		return fmt.Errorf("%w: len(x) = %d, sensor has dimension %d", ErrDim, len(x), n)
	}
	// Scratch for every model, on the stack when it fits (see
	// stackFloats), else pooled.
	if k := len(b.Models); k <= 4 && n*k <= 2*stackFloats {
		var sws [4]work
		var stack [2 * stackFloats]float64
		for i := range k {
			sws[i] = work{pi: stack[i*n : (i+1)*n]}
		}
		return b.update(x, y, r, sws[:k])
	}
	bw := getBankWork(len(b.Models), n)
	defer bankWorkPool.Put(bw)
	for i := range bw.ws {
		bw.ws[i] = work{pi: bw.buf[i*n : (i+1)*n]}
	}
	return b.update(x, y, r, bw.ws)
}

// update is UpdateScored with scratch ws[i] for model i.
func (b *Bank) update(x []float64, y float64, sc *Scoring, ws []work) error {
	n := b.Dim
	defer func() {
		for _, m := range b.Models {
			m.dropSlow()
		}
	}()
	for i, m := range b.Models {
		if m.Dim != n {
			return fmt.Errorf("%w: model %q has dimension %d, bank %d", ErrState, m.Name, m.Dim, n)
		}
		if err := m.prepare(x, y, sc, &ws[i]); err != nil {
			return fmt.Errorf("model %q: %w", m.Name, err)
		}
	}
	for i, m := range b.Models {
		m.commit(x, y, &ws[i], sc)
	}
	return nil
}

// bankWork is pooled scratch for a bank update that does not fit on the
// stack.
type bankWork struct {
	ws  []work
	buf []float64
}

var bankWorkPool sync.Pool

// getBankWork returns scratch for models models of dimension n.
func getBankWork(models, n int) *bankWork {
	bw, _ := bankWorkPool.Get().(*bankWork)
	if bw == nil {
		bw = new(bankWork)
	}
	if cap(bw.ws) < models {
		bw.ws = make([]work, models)
	}
	if cap(bw.buf) < n*models {
		bw.buf = make([]float64, n*models)
	}
	bw.ws, bw.buf = bw.ws[:models], bw.buf[:n*models]
	return bw
}

// Predict returns each model's prediction xᵀθ, in the order of Models. It
// panics if len(x) != Dim.
func (b *Bank) Predict(x []float64) []float64 {
	return b.PredictInto(make([]float64, 0, len(b.Models)), x)
}

// PredictInto appends each model's prediction to dst[:0] and returns it; it
// does not allocate when cap(dst) ≥ len(Models). It panics if len(x) != Dim.
func (b *Bank) PredictInto(dst, x []float64) []float64 {
	dst = dst[:0]
	for _, m := range b.Models {
		dst = append(dst, m.Predict(x))
	}
	return dst
}

// Model returns the model named name, or nil.
func (b *Bank) Model(name string) *Model {
	for _, m := range b.Models {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Clone returns a deep copy of b.
func (b *Bank) Clone() *Bank {
	c := &Bank{Dim: b.Dim, Models: make([]*Model, len(b.Models))}
	for i, m := range b.Models {
		c.Models[i] = m.Clone()
	}
	return c
}

// Check reports whether b is well formed: Dim ≥ 0, at least one model,
// unique names, every model passing Model.Check with Dim = b.Dim.
func (b *Bank) Check() error {
	if b.Dim < 0 {
		return fmt.Errorf("%w: negative dimension %d", ErrState, b.Dim)
	}
	if len(b.Models) == 0 {
		return fmt.Errorf("%w: bank has no models", ErrState)
	}
	for i, m := range b.Models {
		if m == nil {
			return fmt.Errorf("%w: model %d is nil", ErrState, i)
		}
		if m.Dim != b.Dim {
			return fmt.Errorf("%w: model %q has dimension %d, bank %d", ErrState, m.Name, m.Dim, b.Dim)
		}
		if err := m.Check(); err != nil {
			return err
		}
		for _, o := range b.Models[:i] {
			if o.Name == m.Name {
				return fmt.Errorf("%w: model name %q is used twice", ErrState, m.Name)
			}
		}
	}
	return nil
}
