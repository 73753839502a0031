// Package history is the learning history of each sensor: the JSON snapshot
// of a sensor's models that the processor publishes to the GROUP-snapshots
// topic, the Follower that consumes that topic into a bounded, downsampled
// in-memory Store per sensor, and the curves (HistoryOf) the HTTP API
// serves from it.
package history

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
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
		}
	}
	return out
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

// DefaultPoints bounds the points a Store keeps per sensor.
const DefaultPoints = 2000

// Store keeps each sensor's snapshots, at most Points of them: when a
// sensor's series is full every second point is dropped and from then on
// only every second snapshot is kept (then every fourth, …), so the whole
// learning curve stays visible at an even spacing. The newest snapshot is
// always kept as well. A snapshot whose sample count is not above the
// newest one's is a duplicate (redelivered after a crash) and is ignored.
// Safe for concurrent use.
type Store struct {
	max int

	mu      sync.RWMutex
	sensors map[string]*series
}

type series struct {
	points []point // kept, oldest first; seq multiple of stride
	stride uint64
	seq    uint64 // number of distinct snapshots seen
	last   Snapshot
}

type point struct {
	seq uint64
	Snapshot
}

// NewStore returns a store of at most points points per sensor (< 2:
// DefaultPoints).
func NewStore(points int) *Store {
	if points < 2 {
		points = DefaultPoints
	}
	if points%2 == 1 {
		points++
	}
	return &Store{max: points, sensors: map[string]*series{}}
}

// Max is the most points kept per sensor (the newest snapshot comes on top).
func (st *Store) Max() int { return st.max }

// Add adds a snapshot and says whether it was new.
func (st *Store) Add(s Snapshot) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	ser := st.sensors[s.Sensor]
	if ser == nil {
		ser = &series{stride: 1}
		st.sensors[s.Sensor] = ser
	} else if s.Samples <= ser.last.Samples {
		return false
	}
	ser.last = s
	n := ser.seq
	ser.seq++
	if n%ser.stride != 0 {
		return true
	}
	if len(ser.points) == st.max {
		kept := ser.points[:0]
		for _, p := range ser.points {
			if p.seq%(2*ser.stride) == 0 {
				kept = append(kept, p)
			}
		}
		clear(ser.points[len(kept):])
		ser.points = kept
		ser.stride *= 2
		if n%ser.stride != 0 {
			return true
		}
	}
	ser.points = append(ser.points, point{seq: n, Snapshot: s})
	return true
}

// Points returns a sensor's kept snapshots, oldest first, ending with the
// newest one; nil for a sensor without any.
func (st *Store) Points(sensor string) []Snapshot {
	st.mu.RLock()
	defer st.mu.RUnlock()
	ser := st.sensors[sensor]
	if ser == nil {
		return nil
	}
	out := make([]Snapshot, 0, len(ser.points)+1)
	for _, p := range ser.points {
		out = append(out, p.Snapshot)
	}
	if len(out) == 0 || out[len(out)-1].Samples < ser.last.Samples {
		out = append(out, ser.last)
	}
	return out
}

// Latest returns a sensor's newest snapshot.
func (st *Store) Latest(sensor string) (Snapshot, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	ser := st.sensors[sensor]
	if ser == nil {
		return Snapshot{}, false
	}
	return ser.last, true
}

// Sensors lists the sensors with a history, sorted.
func (st *Store) Sensors() []string {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make([]string, 0, len(st.sensors))
	for id := range st.sensors {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
