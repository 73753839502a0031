package processor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamrls/streamrls/schema"
)

// Rejection reasons: stable labels of the dead-letter header and metrics.
const (
	ReasonDecode        = "decode"          // the value is not a sample in any format
	ReasonEmptyKey      = "empty-key"       // no sensor ID
	ReasonReservedKey   = "reserved-key"    // a key goka keeps for itself (ReservedKey)
	ReasonBadKey        = "bad-key"         // not a valid sensor ID (see MaxKeyBytes)
	ReasonTombstone     = "tombstone"       // a null value
	ReasonDimension     = "dimension"       // not the sensor's dimension
	ReasonNonFinite     = "non-finite"      // NaN or ±Inf in x or y
	ReasonMaxDim        = "max-dim"         // more features than --max-dim
	ReasonStateTooLarge = "state-too-large" // the sensor's state would not fit in one table record
	ReasonNumeric       = "numeric"         // the update would make θ or P non-finite
	ReasonModelChanged  = "model-changed"   // the sensor's model under a configured name has another λ or δ
	ReasonTooLarge      = "too-large"       // the value, decompressed, is over Config.MaxValueBytes
)

// reasonList is every rejection reason; Reasons is a copy for callers.
var reasonList = [...]string{ReasonDecode, ReasonEmptyKey, ReasonReservedKey, ReasonBadKey, ReasonTombstone,
	ReasonDimension, ReasonNonFinite, ReasonMaxDim, ReasonStateTooLarge, ReasonNumeric, ReasonModelChanged,
	ReasonTooLarge}

// Reasons lists every rejection reason.
var Reasons = reasonList[:]

// Metrics are the processor's Prometheus metrics: its Counts, the
// histograms and per-sensor gauges below, and, at every scrape, the consumer
// lag and table recovery state of the goka processor that Run is currently
// running (see lag.go). Its methods do nothing on a nil *Metrics.
type Metrics struct {
	// Counts are the running totals, exported as counters.
	Counts
	// Duration is the time spent in the callback per message.
	Duration prometheus.Histogram
	// Delay is from the input message's timestamp (set by its producer) to
	// the end of its callback, for messages that applied samples.
	Delay prometheus.Histogram
	// SensorMSE and SensorRecentMSE are per-sensor, per-model gauges, kept
	// for at most SensorLimit sensors.
	SensorMSE       *prometheus.GaugeVec
	SensorRecentMSE *prometheus.GaugeVec
	SensorSamples   *prometheus.GaugeVec
	// SensorAnomalies and SensorDrifts count a sensor's anomaly episodes
	// and drifts per model, for the same sensors as the gauges.
	SensorAnomalies *prometheus.CounterVec
	SensorDrifts    *prometheus.CounterVec
	// BatchMessages and BatchSensors are the input messages and the
	// sensors (state writes) of each batch written.
	BatchMessages prometheus.Histogram
	BatchSensors  prometheus.Histogram

	// SensorLimit bounds the sensors with labelled gauges (--sensor-metrics):
	// the first SensorLimit sensors this process updates get them, later
	// ones none, so the number of series stays bounded. 0: no per-sensor
	// gauges. Set it before the processor runs.
	SensorLimit int

	mu      sync.Mutex
	tracked map[string]struct{}

	source atomic.Pointer[lagSource]
	lag    *lagCollector
}

// Buckets of the latency histograms, in seconds.
var (
	DurationBuckets = prometheus.ExponentialBuckets(5e-6, 4, 10)   // 5µs … 1.3s
	DelayBuckets    = prometheus.ExponentialBuckets(1e-3, 2.5, 12) // 1ms … 24s
	BatchBuckets    = prometheus.ExponentialBuckets(1, 4, 11)      // 1 … 1M
)

// NewMetrics registers the processor metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "streamrls_update_duration_seconds", Help: "Time spent in the update callback per input message (decode, validate, update every model, write the state).",
			Buckets: DurationBuckets,
		}),
		Delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "streamrls_update_delay_seconds", Help: "From an input message's Kafka timestamp (set by its producer) to the end of its update, for messages that applied samples.",
			Buckets: DelayBuckets,
		}),
		SensorMSE: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamrls_sensor_mse", Help: "Running mean of squared a-priori errors of a sensor's model (only for the first SensorLimit sensors updated).",
		}, []string{"sensor", "model"}),
		SensorRecentMSE: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamrls_sensor_recent_mse", Help: "Exponentially weighted recent mean of squared a-priori errors of a sensor's model (only for the first SensorLimit sensors updated).",
		}, []string{"sensor", "model"}),
		SensorSamples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamrls_sensor_samples", Help: "Samples applied to a sensor's models in all (only for the first SensorLimit sensors updated).",
		}, []string{"sensor"}),
		SensorAnomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamrls_sensor_anomalies_total", Help: "Anomaly episodes of a sensor's model (only for the first SensorLimit sensors updated).",
		}, []string{"sensor", "model"}),
		SensorDrifts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamrls_sensor_drifts_total", Help: "Drifts detected of a sensor's model (only for the first SensorLimit sensors updated).",
		}, []string{"sensor", "model"}),
		BatchMessages: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "streamrls_batch_messages", Help: "Input messages per batch written.",
			Buckets: BatchBuckets,
		}),
		BatchSensors: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "streamrls_batch_sensors", Help: "Sensors (state writes) per batch written.",
			Buckets: BatchBuckets,
		}),
		tracked: map[string]struct{}{},
	}
	m.lag = newLagCollector(m)
	if reg != nil {
		reg.MustRegister(newCountsCollector(&m.Counts),
			m.Duration, m.Delay, m.SensorMSE, m.SensorRecentMSE, m.SensorSamples,
			m.SensorAnomalies, m.SensorDrifts,
			m.BatchMessages, m.BatchSensors, m.lag)
	}
	return m
}

// observe records one message's callback duration and delay.
func (m *Metrics) observe(start time.Time, ts time.Time, applied int) {
	if m == nil {
		return
	}
	end := time.Now()
	m.Duration.Observe(end.Sub(start).Seconds())
	if applied > 0 && !ts.IsZero() {
		if d := end.Sub(ts); d >= 0 {
			m.Delay.Observe(d.Seconds())
		}
	}
}

// observeSensor updates the per-sensor gauges of a tracked sensor, and
// starts tracking it while fewer than SensorLimit are.
func (m *Metrics) observeSensor(sensor string, rec *Record) {
	if m == nil || m.SensorLimit <= 0 || rec == nil || rec.State == nil {
		return
	}
	r, ok := rec.State.(*BankState) // another learner's states have no gauges
	if !ok {
		return
	}
	if !m.track(sensor) {
		return
	}
	m.SensorSamples.WithLabelValues(sensor).Set(float64(rec.Samples))
	r.Report(func(model string, mse, recent float64) {
		m.SensorMSE.WithLabelValues(sensor, model).Set(mse)
		m.SensorRecentMSE.WithLabelValues(sensor, model).Set(recent)
	})
}

// track says whether sensor has per-sensor series, and gives it them while
// fewer than SensorLimit sensors have.
func (m *Metrics) track(sensor string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, tracked := m.tracked[sensor]
	if !tracked && len(m.tracked) < m.SensorLimit {
		m.tracked[sensor] = struct{}{}
		tracked = true
	}
	return tracked
}

// observeEvent counts an anomaly episode or a drift of a tracked sensor.
func (m *Metrics) observeEvent(ev *schema.Event) {
	if m == nil || m.SensorLimit <= 0 || !m.track(ev.Sensor) {
		return
	}
	switch ev.Kind {
	case schema.EventAnomaly:
		m.SensorAnomalies.WithLabelValues(ev.Sensor, ev.Model).Inc()
	case schema.EventDrift:
		m.SensorDrifts.WithLabelValues(ev.Sensor, ev.Model).Inc()
	}
}

// observeBatch records the size of a batch written.
func (m *Metrics) observeBatch(messages, sensors int) {
	if m == nil {
		return
	}
	m.BatchMessages.Observe(float64(messages))
	m.BatchSensors.Observe(float64(sensors))
}
