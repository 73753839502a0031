// Package sensorid is the rule of what a sensor ID may be, shared by the
// processor (which dead-letters any other key) and every reader that must
// not trust an ID it did not check (the snapshots follower). It imports
// only the standard library.
package sensorid

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is the longest sensor ID, in bytes.
const MaxBytes = 256

// Check says why id cannot be a sensor ID (nil if it can). A sensor ID is
// non-empty valid UTF-8 of at most MaxBytes bytes without control
// characters, and not "." or ".." (they name no resource in a URL or a file
// path).
func Check(id string) error {
	switch {
	case id == "":
		return errors.New("sensor ID is empty")
	case len(id) > MaxBytes:
		return fmt.Errorf("sensor ID is %d bytes, at most %d", len(id), MaxBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("sensor ID %q is not valid UTF-8", id)
	case id == "." || id == "..":
		return fmt.Errorf("sensor ID %q names no resource in a URL or path", id)
	}
	for i, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("sensor ID %q has the control character U+%04X at byte %d", id, r, i)
		}
	}
	return nil
}
