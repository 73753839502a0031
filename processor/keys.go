package processor

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/streamrls/streamrls/tablestore"
)

// MaxKeyBytes is the longest sensor ID, in bytes.
const MaxKeyBytes = 256

// ReservedKey is goka's own key in every local table.
const ReservedKey = tablestore.OffsetKey

// checkKey says why key cannot be a sensor ID ("" if it can). A sensor ID
// is valid UTF-8 of at most MaxKeyBytes bytes without control characters,
// not "." or ".." (they name no resource in a URL or a file path) and not
// goka's reserved key. A message with a bad key is dead-lettered and never
// reaches the table, the history, plots or exports.
func checkKey(key string) (reason, detail string) {
	switch {
	case key == "":
		return ReasonEmptyKey, "message has no key (sensor ID)"
	case key == ReservedKey:
		return ReasonReservedKey, fmt.Sprintf("key %q is reserved by goka's storage", ReservedKey)
	case len(key) > MaxKeyBytes:
		return ReasonBadKey, fmt.Sprintf("sensor ID is %d bytes, at most %d", len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return ReasonBadKey, fmt.Sprintf("sensor ID %q is not valid UTF-8", key)
	case key == "." || key == "..":
		return ReasonBadKey, fmt.Sprintf("sensor ID %q names no resource in a URL or path", key)
	}
	for i, r := range key {
		if unicode.IsControl(r) {
			return ReasonBadKey, fmt.Sprintf("sensor ID %q has the control character U+%04X at byte %d", key, r, i)
		}
	}
	return "", ""
}
