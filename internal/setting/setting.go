// Package setting is the error a library configuration returns for a field
// it cannot use. It names the Go field, so that a caller that set the field
// from something else (the command line sets it from a flag) can say which.
package setting

import "fmt"

// Error is a configuration field out of its range.
type Error struct {
	// Pkg is the package whose configuration holds the field ("processor").
	Pkg string
	// Field is the Go name of the field ("BatchInterval").
	Field string
	// Value is the field's value.
	Value any
	// Want says which values are accepted ("≥ 0").
	Want string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s %v: want %s", e.Pkg, e.Field, e.Value, e.Want)
}

// Errorf is an *Error of pkg's field with value, and what it wants formatted
// from format and args.
func Errorf(pkg, field string, value any, format string, args ...any) error {
	return &Error{Pkg: pkg, Field: field, Value: value, Want: fmt.Sprintf(format, args...)}
}
