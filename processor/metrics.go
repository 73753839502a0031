package processor

import "github.com/prometheus/client_golang/prometheus"

// Rejection reasons: stable labels of the dead-letter header and metrics.
const (
	ReasonDecode    = "decode"       // the value is not a sample in any format
	ReasonEmptyKey  = "empty-key"    // no sensor ID
	ReasonBadKey    = "reserved-key" // a key goka keeps for itself ("__offset")
	ReasonDimension = "dimension"    // not the sensor's dimension
	ReasonNonFinite = "non-finite"   // NaN or ±Inf in x or y
	ReasonMaxDim    = "max-dim"      // more features than --max-dim
	ReasonNumeric   = "numeric"      // the update would make θ or P non-finite
)

// Reasons lists every rejection reason.
var Reasons = []string{ReasonDecode, ReasonEmptyKey, ReasonBadKey, ReasonDimension, ReasonNonFinite, ReasonMaxDim, ReasonNumeric}

// Metrics are the processor's Prometheus metrics.
type Metrics struct {
	Applied    prometheus.Counter
	Rejected   *prometheus.CounterVec
	Messages   prometheus.Counter
	Duplicates prometheus.Counter
	Sensors    prometheus.Counter
}

// NewMetrics registers the processor metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_samples_applied_total", Help: "Samples applied to every model of their sensor.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamrls_samples_rejected_total", Help: "Samples (or whole messages, when undecodable) rejected, by reason.",
		}, []string{"reason"}),
		Messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_messages_total", Help: "Input messages processed (including duplicates and rejections).",
		}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_messages_duplicate_total", Help: "Redelivered messages skipped because their sensor's state already holds them.",
		}),
		Sensors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_sensors_created_total", Help: "Sensor states created by this process.",
		}),
	}
	for _, r := range Reasons {
		m.Rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Applied, m.Rejected, m.Messages, m.Duplicates, m.Sensors)
	}
	return m
}
