package rls

import "fmt"

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
	var buf Scoring
	r := sc.resolve(&buf)
	if len(x) != b.Dim {
		return fmt.Errorf("%w: len(x) = %d, sensor has dimension %d", ErrDim, len(x), b.Dim)
	}
	for i, m := range b.Models {
		if m.Dim != b.Dim {
			b.release(i)
			return fmt.Errorf("%w: model %q has dimension %d, bank %d", ErrState, m.Name, m.Dim, b.Dim)
		}
		if err := m.prepare(x, y, r); err != nil {
			b.release(i + 1)
			return fmt.Errorf("model %q: %w", m.Name, err)
		}
	}
	for _, m := range b.Models {
		m.commit(x)
	}
	return nil
}

// release drops the prepared updates of the first n models.
func (b *Bank) release(n int) {
	for _, m := range b.Models[:n] {
		m.release()
	}
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
