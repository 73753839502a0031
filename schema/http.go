package schema

// Sensor is a sensor's state (GET /v1/sensors/{id}).
type Sensor struct {
	Sensor    string `json:"sensor"`
	Group     string `json:"group"`
	Dim       int    `json:"dim"`
	Samples   uint64 `json:"samples"`
	Rejected  uint64 `json:"rejected"`
	Updated   string `json:"updated"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Features names θ's coefficients of an autoregressive sensor: x[0], …,
	// then y[t-1], …, y[t-P], then 1. Absent for a sensor of x alone.
	Features []string `json:"features,omitempty"`
	Models   []Model  `json:"models"`
}

// Model is one model of a sensor, in the HTTP API and in a Snapshot.
type Model struct {
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
	Episodes  uint64   `json:"episodes"`  // anomaly episodes (runs of anomalous samples) opened
	Drifts    uint64   `json:"drifts"`    // alarms of the model's change detector
	// P is the n×n matrix P, row-major: in `export --format json` only
	// (the API and the snapshots leave it out).
	P []float64 `json:"p,omitempty"`
}

// Sensors is a page of sensor IDs (GET /v1/sensors); Next, when set, is
// the after= of the next page.
type Sensors struct {
	Sensors []string `json:"sensors"`
	Next    string   `json:"next,omitempty"`
}

// PredictRequest is the body of POST /v1/sensors/{id}/predict.
type PredictRequest struct {
	X []float64 `json:"x"`
}

// Predictions is each model's prediction xᵀθ, with its standard
// deviation and central interval at the server's Level.
type Predictions struct {
	Sensor      string       `json:"sensor"`
	Level       float64      `json:"level"` // coverage of [lo, hi] (serve --interval-level)
	Predictions []Prediction `json:"predictions"`
}

// Prediction is one model's prediction: Y = xᵀθ, SD = √(σ̂²(λ+xᵀPx)/λ)
// and [Lo, Hi] = Y ∓ q·SD with q the normal quantile of (1+level)/2. SD,
// Lo and Hi are null while the model's σ̂² is unknown.
type Prediction struct {
	Model string   `json:"model"`
	Y     float64  `json:"y"`
	SD    *float64 `json:"sd"`
	Lo    *float64 `json:"lo"`
	Hi    *float64 `json:"hi"`
}

// Events is a sensor's latest events, newest first (GET
// /v1/sensors/{id}/events).
type Events struct {
	Sensor string  `json:"sensor"`
	Group  string  `json:"group"`
	Events []Event `json:"events"`
}

// Error is every error response.
type Error struct {
	Error string `json:"error"`
}

// History is a sensor's learning history (GET
// /v1/sensors/{id}/history), one column per figure so that numpy takes each
// as it is: np.array(h["models"][0]["theta"]) is a points × dim matrix
// whose rows go with h["samples"].
type History struct {
	Sensor    string      `json:"sensor"`
	Group     string      `json:"group"`
	Dim       int         `json:"dim"`
	Samples   []uint64    `json:"samples"`              // samples applied at each point
	Updated   []int64     `json:"updated_ms"`           // unix ms of each point
	Rejected  []uint64    `json:"rejected"`             // samples rejected at each point
	ThetaStar [][]float64 `json:"theta_star,omitempty"` // θ* at each point, when known
	// Features names θ's coefficients of an autoregressive sensor (see
	// Sensor.Features).
	Features []string       `json:"features,omitempty"`
	Models   []ModelHistory `json:"models"`
}

// ModelHistory is one model's columns of a history.
type ModelHistory struct {
	Name      string      `json:"name"`
	Lambda    float64     `json:"lambda"`
	Delta     float64     `json:"delta"`
	Theta     [][]float64 `json:"theta"` // θ at each point
	MSE       []float64   `json:"mse"`
	RecentMSE []float64   `json:"recent_mse"`
	PTrace    []float64   `json:"p_trace"`
}
