package schema

import (
	"encoding/json"
	"fmt"
	"time"
)

// Snapshot is one message value on the GROUP-snapshots topic (key = sensor
// ID): the state of a sensor's models after the input message at
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

// SetUpdated sets Updated and UpdatedMs from unix milliseconds.
func (s *Snapshot) SetUpdated(ms int64) {
	s.UpdatedMs = ms
	s.Updated = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// Encode renders a snapshot as JSON.
func (s *Snapshot) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("snapshot of sensor %q: %w", s.Sensor, err)
	}
	return b, nil
}

// ScoreRecord is one message value on the GROUP-scores topic (key = sensor
// ID): how every model scored each sample of one input message, before
// the sample updated it. Consumers drop repeats by (Partition, Offset).
type ScoreRecord struct {
	Sensor    string        `json:"sensor"`
	Partition int32         `json:"partition"` // input partition of the message
	Offset    int64         `json:"offset"`    // input offset of the message
	Samples   []ScoreSample `json:"samples"`   // the message's applied samples, in order
}

// ScoreSample is one sample of a ScoreRecord.
type ScoreSample struct {
	Seq *int64 `json:"seq"` // the producer's sequence number, if it sent one
	TS  *int64 `json:"ts"`  // the producer's timestamp (unix ms), if it sent one
	// SampleTS is the sample's own time (unix ms): TS if the producer sent
	// one, else the input record's timestamp; SampleTime is the same in
	// RFC 3339.
	SampleTS   int64        `json:"sample_ts"`
	SampleTime string       `json:"sample_time"`
	Y          float64      `json:"y"`
	Models     []ModelScore `json:"models"`
}

// ModelScore is one model's score of one sample: its a-priori prediction
// YHat, error E = y − YHat, standardised residual Z and prediction interval
// [Lo, Hi] at the processor's --interval-level. Z, Lo and Hi are null
// while the model's noise variance is not yet known (its first sample).
// AZ is the anomaly test's statistic (E over the robust scale) and
// Threshold the threshold on |AZ| in force; AZ is null while that scale is
// unknown.
type ModelScore struct {
	Model     string   `json:"model"`
	YHat      float64  `json:"y_hat"`
	E         float64  `json:"e"`
	Z         *float64 `json:"z"`
	Lo        *float64 `json:"lo"`
	Hi        *float64 `json:"hi"`
	AZ        *float64 `json:"az"`
	Threshold float64  `json:"threshold"`
}

// Event kinds.
const (
	// EventAnomaly: an anomaly episode opened in the --score-model, at its
	// first anomalous sample: |az| above its threshold (Test "error") or
	// the errors' typical size shifted (Test "spread").
	EventAnomaly = "anomaly"
	// EventAnomalyEnd: the episode closed, after rls.EpisodeGap normal
	// samples; Count and Peak describe it.
	EventAnomalyEnd = "anomaly-end"
	EventDrift      = "drift" // a model's change detector fired
)

// The tests of an anomaly event (Event.Test).
const (
	TestError  = "error"  // |az| of one sample above its threshold
	TestSpread = "spread" // the short mean of ln|error| moved away from its long mean
)

// Event is one message value on the GROUP-events topic (key = sensor ID),
// and one element of GET /v1/sensors/{id}/events.
type Event struct {
	Sensor    string   `json:"sensor"`
	Model     string   `json:"model"`
	Kind      string   `json:"kind"`                // EventAnomaly or EventDrift
	Partition int32    `json:"partition"`           // input partition of the message
	Offset    int64    `json:"offset"`              // input offset of the message
	Samples   uint64   `json:"samples"`             // the model's samples when it happened
	Test      string   `json:"test,omitempty"`      // anomaly: TestError or TestSpread, the test that opened it
	Z         *float64 `json:"z,omitempty"`         // anomaly: that test's statistic (az, or the spread's sz)
	Threshold *float64 `json:"threshold,omitempty"` // anomaly: the threshold on |z| it exceeded
	Count     uint64   `json:"count,omitempty"`     // anomaly-end: the episode's anomalous samples
	Peak      *float64 `json:"peak,omitempty"`      // anomaly-end: the episode's largest |az|
	Statistic *float64 `json:"statistic,omitempty"` // drift: the detector's statistic (over 1 fires)
	Time      string   `json:"time"`                // RFC 3339, when the message was processed
	// Seq is the sample's producer sequence number, if it sent one;
	// SampleTS its own time (unix ms: the producer's ts, else the input
	// record's timestamp) and SampleTime the same in RFC 3339.
	// Both are left out of events written before they existed.
	Seq        *int64 `json:"seq,omitempty"`
	SampleTS   int64  `json:"sample_ts,omitempty"`
	SampleTime string `json:"sample_time,omitempty"`
}

// Dead-letter headers: the processor sends a message it rejects to the
// GROUP-deadletter topic with its key and value and these headers.
const (
	HeaderReason          = "streamrls-reason"           // first rejection reason (processor.Reason…)
	HeaderError           = "streamrls-error"            // human-readable detail
	HeaderSourceTopic     = "streamrls-source-topic"     // input topic
	HeaderSourcePartition = "streamrls-source-partition" // input partition, decimal
	HeaderSourceOffset    = "streamrls-source-offset"    // input offset, decimal
	HeaderRejected        = "streamrls-rejected-samples" // indices of rejected samples in the message, comma-separated
	// A value over processor.MaxDeadLetterValue is cut to it; these give
	// the original's size and SHA-256 (hex), to fetch and check it on the
	// input.
	HeaderOriginalSize   = "streamrls-original-size"
	HeaderOriginalSHA256 = "streamrls-original-sha256"
)
