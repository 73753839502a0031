package processor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/streamrls/streamrls/rls"
)

// A group's model bank can change between runs of its processors. The
// bank's specs are part of every sensor's state (each model's name, λ and
// δ), and a sensor's bank is brought to the configured one when it is read
// (RLS.Reconcile): a model added is created fresh for the sensor at its next
// sample (its own `samples` count starts there), a model removed is
// dropped, and a model whose λ or δ changed under the same name is refused:
// its history was learned with other settings, so keeping it would mix
// two models under one name. Use a new name, or replay into a new group.
// Run checks the table's newest states at start and refuses such a change
// there (a *BankError); a sensor found later with one has its message
// dead-lettered (reason model-changed) and keeps its state.

// BankChange is how a stored bank differs from the configured one.
type BankChange struct {
	Added, Dropped []string
}

func (c *BankChange) String() string {
	var parts []string
	if len(c.Added) > 0 {
		parts = append(parts, "adding "+strings.Join(c.Added, ", ")+" (fresh for every existing sensor at its next sample)")
	}
	if len(c.Dropped) > 0 {
		parts = append(parts, "dropping "+strings.Join(c.Dropped, ", "))
	}
	return strings.Join(parts, "; ")
}

// BankError is a model whose λ or δ changed under the same name.
type BankError struct {
	Model      string
	Stored     rls.Spec
	Configured rls.Spec
}

func (e *BankError) Error() string {
	return fmt.Sprintf("model %q is %s in the table but configured as %s: λ and δ of a model cannot change under its name (use a new name, or replay into a new group)",
		e.Model, e.Stored, e.Configured)
}

// ErrBankChanged is matched by every *BankError (errors.Is).
var ErrBankChanged = errors.New("model bank changed")

// Is makes errors.Is(err, ErrBankChanged) true for a *BankError.
func (e *BankError) Is(target error) bool { return target == ErrBankChanged }

// Reconcile returns st, a stored bank, in the configured one (m.Specs),
// and what changed (nil when nothing did); an error names what cannot
// change. The handler calls it on every state it reads from the table, not
// on states it made itself.
func (m RLS) Reconcile(st State) (State, *BankChange, error) {
	bs, ok := st.(*BankState)
	if !ok {
		return st, nil, nil
	}
	b := bs.Bank
	same := len(b.Models) == len(m.Specs)
	for i, s := range m.Specs {
		if !same {
			break
		}
		same = b.Models[i].Spec == s
	}
	if same {
		return st, nil, nil
	}
	change := &BankChange{}
	models := make([]*rls.Model, 0, len(m.Specs))
	for _, s := range m.Specs {
		old := b.Model(s.Name)
		switch {
		case old == nil:
			models = append(models, rls.NewModel(s, b.Dim))
			change.Added = append(change.Added, s.Name)
		case old.Lambda != s.Lambda || old.Delta != s.Delta:
			return st, nil, &BankError{Model: s.Name, Stored: old.Spec, Configured: s}
		default:
			models = append(models, old)
		}
	}
	for _, old := range b.Models {
		if !hasSpec(m.Specs, old.Name) {
			change.Dropped = append(change.Dropped, old.Name)
		}
	}
	return &BankState{Bank: &rls.Bank{Dim: b.Dim, Models: models}, Scoring: m.Scoring}, change, nil
}

func hasSpec(specs []rls.Spec, name string) bool {
	for _, s := range specs {
		if s.Name == name {
			return true
		}
	}
	return false
}
