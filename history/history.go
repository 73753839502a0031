// Package history is the learning history of each sensor: the JSON snapshot
// of a sensor's models that the processor publishes to the GROUP-snapshots
// topic, the Follower that consumes that topic into a Store (a LevelDB of
// downsampled curves, bounded per sensor and in total, that remembers how far
// the topic was read), and the curves (HistoryOf) the HTTP API serves from
// it.
package history

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/streamrls/streamrls/api/apitypes"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/sensorid"
)

// Snapshot is one message value on the snapshots topic (key = sensor ID):
// the state of a sensor's models after the input message at
// Partition/Offset was applied. JSON, so that kcat, jq and Python read it as
// it is.
type Snapshot struct {
	Sensor    string  `json:"sensor"`
	Group     string  `json:"group"`
	Partition int32   `json:"partition"`  // input partition of the message it follows
	Offset    int64   `json:"offset"`     // input offset of the message it follows
	Samples   uint64  `json:"samples"`    // samples applied to the sensor so far
	Rejected  uint64  `json:"rejected"`   // samples rejected so far
	Updated   string  `json:"updated"`    // RFC 3339, when the message was applied
	UpdatedMs int64   `json:"updated_ms"` // the same in unix milliseconds
	Dim       int     `json:"dim"`
	Models    []Model `json:"models"`
}

// Model is one model of a snapshot: the HTTP API's model, field for field.
type Model = apitypes.ModelJSON

// Models describes every model of a bank (θ is copied).
func Models(b *rls.Bank) []Model {
	if b == nil {
		return nil
	}
	out := make([]Model, len(b.Models))
	for i, m := range b.Models {
		out[i] = Model{
			Name: m.Name, Lambda: m.Lambda, Delta: m.Delta, Theta: append([]float64(nil), m.Theta...),
			MSE: m.MSE, RecentMSE: m.RecentMSE, Samples: m.Samples, PTrace: m.PTrace(),
			Sigma2: Known(m.Sigma2), Anomalies: m.Anomalies, Drifts: m.Drifts,
		}
	}
	return out
}

// Known is a pointer to v, or nil (JSON null) for a v that is not a
// positive finite number: σ̂² and what follows from it while unknown.
func Known(v float64) *float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// SetUpdated sets Updated and UpdatedMs from unix milliseconds.
func (s *Snapshot) SetUpdated(ms int64) {
	s.UpdatedMs = ms
	s.Updated = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// Encode renders a snapshot as JSON.
func Encode(s *Snapshot) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("snapshot of sensor %q: %w", s.Sensor, err)
	}
	return b, nil
}

// Decode parses a snapshot; key is the message key, used when the value has
// no sensor. A snapshot whose sensor differs from its key, or is no valid
// sensor ID (sensorid.Check), is an error: JSON turns invalid UTF-8 into
// U+FFFD, so trusting the field would merge distinct keys into one curve
// and let a forged value file its points under another sensor.
func Decode(key, value []byte) (Snapshot, error) {
	var s Snapshot
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
