// Package history is the learning history of each sensor: the Follower that
// consumes a group's snapshots topic (schema.Snapshot) into a Store, a
// LevelDB of downsampled curves, bounded per sensor and in total, that
// remembers how far the topic was read; and the EventFollower that keeps the
// latest events of the events topic (schema.Event) in memory.
package history

import (
	"encoding/json"
	"fmt"

	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/sensorid"
)

// DecodeSnapshot parses a snapshot; key is the message key, used when the
// value has no sensor. A snapshot whose sensor differs from its key, or is
// no valid sensor ID (sensorid.Check), is an error: JSON turns invalid UTF-8
// into U+FFFD, so trusting the field would merge distinct keys into one
// curve and let a forged value file its points under another sensor.
func DecodeSnapshot(key, value []byte) (schema.Snapshot, error) {
	var s schema.Snapshot
	if err := json.Unmarshal(value, &s); err != nil {
		return s, fmt.Errorf("snapshot of sensor %q: %w", key, err)
	}
	if s.Sensor == "" {
		s.Sensor = string(key)
	}
	if s.Sensor == "" {
		return s, fmt.Errorf("snapshot without sensor (no key, no \"sensor\")")
	}
	if len(key) > 0 && s.Sensor != string(key) {
		return s, fmt.Errorf("snapshot keyed %q names sensor %q", key, s.Sensor)
	}
	if err := sensorid.Check(s.Sensor); err != nil {
		return s, fmt.Errorf("snapshot: %w", err)
	}
	return s, nil
}
