package processor

import (
	"fmt"

	"github.com/streamrls/streamrls/sensorid"
	"github.com/streamrls/streamrls/tablestore"
)

// MaxKeyBytes is the longest sensor ID, in bytes.
const MaxKeyBytes = sensorid.MaxBytes

// ReservedKey is goka's own key in every local table.
const ReservedKey = tablestore.OffsetKey

// checkKey says why key cannot be a sensor ID ("" if it can): a sensor ID
// passes sensorid.Check and is not goka's reserved key. A message with a
// bad key is dead-lettered and never reaches the table, the history, plots
// or exports.
func checkKey(key string) (reason, detail string) {
	switch {
	case key == "":
		return ReasonEmptyKey, "message has no key (sensor ID)"
	case key == ReservedKey:
		return ReasonReservedKey, fmt.Sprintf("key %q is reserved by goka's storage", ReservedKey)
	}
	if err := sensorid.Check(key); err != nil {
		return ReasonBadKey, err.Error()
	}
	return "", ""
}

// Tombstones is what an input message with a null value (a tombstone)
// does.
type Tombstones string

const (
	// TombstonesDeadLetter (the default) dead-letters it with reason
	// tombstone: a sensor is not deleted by its input by accident.
	TombstonesDeadLetter Tombstones = "deadletter"
	// TombstonesDelete deletes the sensor's state (a tombstone on the
	// table: views and exports forget it).
	TombstonesDelete Tombstones = "delete"
)
