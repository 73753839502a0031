// Package apitypes is the JSON of the HTTP API: the request and response
// bodies that the server (package api) writes and the client (package
// client) reads. It imports only the standard library, so that a program
// calling the API does not pull in Kafka, goka or LevelDB.
package apitypes

// SensorJSON is a sensor's state (GET /v1/sensors/{id}).
type SensorJSON struct {
	Sensor    string      `json:"sensor"`
	Group     string      `json:"group"`
	Dim       int         `json:"dim"`
	Samples   uint64      `json:"samples"`
	Rejected  uint64      `json:"rejected"`
	Updated   string      `json:"updated"`
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Models    []ModelJSON `json:"models"`
}

// ModelJSON is one model of a sensor; a snapshot's models (history.Model)
// have the same fields.
type ModelJSON struct {
	Name      string    `json:"name"`
	Lambda    float64   `json:"lambda"`
	Delta     float64   `json:"delta"`
	Theta     []float64 `json:"theta"`
	MSE       float64   `json:"mse"`
	RecentMSE float64   `json:"recent_mse"`
	Samples   uint64    `json:"samples"`
	PTrace    float64   `json:"p_trace"`
	// Sigma2 is σ̂², the estimate of the noise variance; null until the
	// model has seen a sample.
	Sigma2    *float64 `json:"sigma2"`
	Anomalies uint64   `json:"anomalies"` // samples scored an anomaly
	Drifts    uint64   `json:"drifts"`    // alarms of the model's change detector
	// P is the n×n matrix P, row-major: in `export --format json` only
	// (the API and the snapshots leave it out).
	P []float64 `json:"p,omitempty"`
}

// SensorsJSON is a page of sensor IDs (GET /v1/sensors); Next, when set, is
// the after= of the next page.
type SensorsJSON struct {
	Sensors []string `json:"sensors"`
	Next    string   `json:"next,omitempty"`
}

// PredictRequest is the body of POST /v1/sensors/{id}/predict.
type PredictRequest struct {
	X []float64 `json:"x"`
}

// PredictJSON is each model's prediction xᵀθ, with its standard
// deviation and central interval at the server's Level.
type PredictJSON struct {
	Sensor      string           `json:"sensor"`
	Level       float64          `json:"level"` // coverage of [lo, hi] (serve --interval-level)
	Predictions []PredictionJSON `json:"predictions"`
}

// PredictionJSON is one model's prediction: Y = xᵀθ, SD = √(σ̂²(λ+xᵀPx)/λ)
// and [Lo, Hi] = Y ∓ q·SD with q the normal quantile of (1+level)/2. SD,
// Lo and Hi are null while the model's σ̂² is unknown.
type PredictionJSON struct {
	Model string   `json:"model"`
	Y     float64  `json:"y"`
	SD    *float64 `json:"sd"`
	Lo    *float64 `json:"lo"`
	Hi    *float64 `json:"hi"`
}

// EventsJSON is a sensor's latest events, newest first (GET
// /v1/sensors/{id}/events).
type EventsJSON struct {
	Sensor string  `json:"sensor"`
	Group  string  `json:"group"`
	Events []Event `json:"events"`
}

// ErrorJSON is every error response.
type ErrorJSON struct {
	Error string `json:"error"`
}

// HistoryJSON is a sensor's learning history (GET
// /v1/sensors/{id}/history), one column per figure so that numpy takes each
// as it is: np.array(h["models"][0]["theta"]) is a points × dim matrix
// whose rows go with h["samples"].
type HistoryJSON struct {
	Sensor    string             `json:"sensor"`
	Group     string             `json:"group"`
	Dim       int                `json:"dim"`
	Samples   []uint64           `json:"samples"`              // samples applied at each point
	Updated   []int64            `json:"updated_ms"`           // unix ms of each point
	Rejected  []uint64           `json:"rejected"`             // samples rejected at each point
	ThetaStar [][]float64        `json:"theta_star,omitempty"` // θ* at each point, when known
	Models    []ModelHistoryJSON `json:"models"`
}

// ModelHistoryJSON is one model's columns of a history.
type ModelHistoryJSON struct {
	Name      string      `json:"name"`
	Lambda    float64     `json:"lambda"`
	Delta     float64     `json:"delta"`
	Theta     [][]float64 `json:"theta"` // θ at each point
	MSE       []float64   `json:"mse"`
	RecentMSE []float64   `json:"recent_mse"`
	PTrace    []float64   `json:"p_trace"`
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
	Seq    *int64       `json:"seq"` // the producer's sequence number, if it sent one
	TS     *int64       `json:"ts"`  // the producer's timestamp (unix ms), if it sent one
	Y      float64      `json:"y"`
	Models []ModelScore `json:"models"`
}

// ModelScore is one model's score of one sample: its a-priori prediction
// YHat, error E = y − YHat, standardised residual Z and prediction interval
// [Lo, Hi] at the processor's --interval-level. Z, Lo and Hi are null
// while the model's noise variance is not yet known (its first sample).
type ModelScore struct {
	Model string   `json:"model"`
	YHat  float64  `json:"y_hat"`
	E     float64  `json:"e"`
	Z     *float64 `json:"z"`
	Lo    *float64 `json:"lo"`
	Hi    *float64 `json:"hi"`
}

// Event kinds.
const (
	EventAnomaly = "anomaly" // |z| above --anomaly-z in the --score-model
	EventDrift   = "drift"   // a model's change detector fired
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
	Z         *float64 `json:"z,omitempty"`         // anomaly: the standardised residual
	Statistic *float64 `json:"statistic,omitempty"` // drift: the detector's statistic (over 1 fires)
	Time      string   `json:"time"`                // RFC 3339, when the message was processed
}
