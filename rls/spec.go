package rls

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Spec names one model of a bank: --model NAME:LAMBDA:DELTA.
type Spec struct {
	Name   string  // e.g. "mod1"
	Lambda float64 // forgetting factor, in (0, 1]
	Delta  float64 // P₀ = Delta·I, > 0 and finite
}

// MaxNameBytes is the longest model name, in bytes: the state codec carries
// a name's length in one byte.
const MaxNameBytes = 255

// DefaultSpecs returns the original notebook's two models: mod1:1:10 (no
// forgetting, P₀ = 10·I) and mod2:0.99:1 (forgetting factor 0.99, P₀ = I).
func DefaultSpecs() []Spec {
	return []Spec{
		{Name: "mod1", Lambda: 1, Delta: 10},
		{Name: "mod2", Lambda: 0.99, Delta: 1},
	}
}

// ParseSpec parses "NAME:LAMBDA:DELTA", e.g. "mod1:1.0:10". Spaces around
// each part are ignored. The error quotes the whole value and says which part
// is wrong and why.
func ParseSpec(s string) (Spec, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Spec{}, fmt.Errorf("rls: model spec %q: want NAME:LAMBDA:DELTA (3 parts separated by ':'), got %d part(s)", s, len(parts))
	}
	name := strings.TrimSpace(parts[0])
	ls := strings.TrimSpace(parts[1])
	ds := strings.TrimSpace(parts[2])
	lambda, err := strconv.ParseFloat(ls, 64)
	if err != nil {
		return Spec{}, fmt.Errorf("rls: model spec %q: lambda %q is not a number", s, ls)
	}
	delta, err := strconv.ParseFloat(ds, 64)
	if err != nil {
		return Spec{}, fmt.Errorf("rls: model spec %q: delta %q is not a number", s, ds)
	}
	sp := Spec{Name: name, Lambda: lambda, Delta: delta}
	if msg := sp.problem(); msg != "" {
		return Spec{}, fmt.Errorf("rls: model spec %q: %s", s, msg)
	}
	return sp, nil
}

// Validate reports whether the spec is usable: Name non-empty, at most
// MaxNameBytes and without ':', Lambda in (0, 1], Delta > 0 and finite.
func (s Spec) Validate() error {
	if msg := s.problem(); msg != "" {
		return fmt.Errorf("rls: model %q: %s", s.Name, msg)
	}
	return nil
}

// problem returns what is wrong with s, or "" if nothing is.
func (s Spec) problem() string {
	switch {
	case s.Name == "":
		return "name is empty"
	case len(s.Name) > MaxNameBytes:
		return fmt.Sprintf("name is %d bytes, want at most %d", len(s.Name), MaxNameBytes)
	case strings.Contains(s.Name, ":"):
		return fmt.Sprintf("name %q contains ':'", s.Name)
	case !(s.Lambda > 0 && s.Lambda <= 1):
		return fmt.Sprintf("lambda %s is outside (0, 1]", fmtFloat(s.Lambda))
	case !(s.Delta > 0 && s.Delta <= math.MaxFloat64):
		return fmt.Sprintf("delta %s is not a finite number > 0", fmtFloat(s.Delta))
	}
	return ""
}

// String returns NAME:LAMBDA:DELTA with the shortest float formatting that
// round-trips through ParseSpec, e.g. "mod2:0.99:1".
func (s Spec) String() string {
	return s.Name + ":" + fmtFloat(s.Lambda) + ":" + fmtFloat(s.Delta)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// ValidateSpecs checks a bank's list of specs: at least one, each valid
// (Spec.Validate), and no two with the same name.
func ValidateSpecs(specs []Spec) error {
	if len(specs) == 0 {
		return errors.New("rls: no models given")
	}
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			return err
		}
		for _, t := range specs[:i] {
			if t.Name == s.Name {
				return fmt.Errorf("rls: model name %q is used twice", s.Name)
			}
		}
	}
	return nil
}
