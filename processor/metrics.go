package processor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
)

// Reasons lists every rejection reason.
var Reasons = []string{ReasonDecode, ReasonEmptyKey, ReasonReservedKey, ReasonBadKey, ReasonTombstone,
	ReasonDimension, ReasonNonFinite, ReasonMaxDim, ReasonStateTooLarge, ReasonNumeric}

// Metrics are the processor's Prometheus metrics. Besides the counters
// below, a Metrics registered on a registry reports, at every scrape, the
// consumer lag and table recovery state of the goka processor that Run is
// currently running (see lag.go).
type Metrics struct {
	Applied    prometheus.Counter
	Rejected   *prometheus.CounterVec
	Messages   prometheus.Counter
	Duplicates prometheus.Counter
	Sensors    prometheus.Counter
	Restarts   prometheus.Counter
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
	// StateWrites and StateBytes count the sensor states written to the
	// table (local copy and changelog): once per message without batches,
	// once per updated sensor per batch with them.
	StateWrites prometheus.Counter
	StateBytes  prometheus.Counter
	// Written counts the samples whose state write has been handed to
	// Kafka (without batches) or acknowledged by it (with batches).
	Written prometheus.Counter
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
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_processor_restarts_total", Help: "Times the goka processor stopped on an error and was rebuilt.",
		}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "streamrls_update_duration_seconds", Help: "Time spent in the update callback per input message (decode, validate, update every model, write the state).",
			Buckets: DurationBuckets,
		}),
		Delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "streamrls_update_delay_seconds", Help: "From an input message's Kafka timestamp (set by its producer) to the end of its update, for messages that applied samples.",
			Buckets: DelayBuckets,
		}),
		SensorMSE: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamrls_sensor_mse", Help: "Running mean of squared a-priori errors of a sensor's model (only for the first --sensor-metrics sensors).",
		}, []string{"sensor", "model"}),
		SensorRecentMSE: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamrls_sensor_recent_mse", Help: "Exponentially weighted recent mean of squared a-priori errors of a sensor's model (only for the first --sensor-metrics sensors).",
		}, []string{"sensor", "model"}),
		SensorSamples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "streamrls_sensor_samples", Help: "Samples applied to a sensor's models in all (only for the first --sensor-metrics sensors).",
		}, []string{"sensor"}),
		StateWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_state_writes_total", Help: "Sensor states written to the group table (once per message with --batch-interval 0, once per updated sensor per batch otherwise).",
		}),
		StateBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_state_write_bytes_total", Help: "Bytes of the sensor states written to the group table's changelog.",
		}),
		Written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamrls_samples_written_total", Help: "Samples whose sensor state has been written to the table (with batches: acknowledged by Kafka).",
		}),
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
	for _, r := range Reasons {
		m.Rejected.WithLabelValues(r)
	}
	m.lag = newLagCollector(m)
	if reg != nil {
		reg.MustRegister(m.Applied, m.Rejected, m.Messages, m.Duplicates, m.Sensors, m.Restarts,
			m.Duration, m.Delay, m.SensorMSE, m.SensorRecentMSE, m.SensorSamples,
			m.StateWrites, m.StateBytes, m.Written, m.BatchMessages, m.BatchSensors, m.lag)
	}
	return m
}

// Reporter is implemented by states that report per-model error figures
// (the RLS bank does); they feed the per-sensor gauges.
type Reporter interface {
	Report(fn func(model string, mse, recentMSE float64))
}

// observe records one message's callback duration and delay.
func (m *Metrics) observe(start time.Time, ts time.Time, applied int) {
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
	if m.SensorLimit <= 0 || rec == nil || rec.State == nil {
		return
	}
	r, ok := rec.State.(Reporter)
	if !ok {
		return
	}
	m.mu.Lock()
	_, tracked := m.tracked[sensor]
	if !tracked && len(m.tracked) < m.SensorLimit {
		m.tracked[sensor] = struct{}{}
		tracked = true
	}
	m.mu.Unlock()
	if !tracked {
		return
	}
	m.SensorSamples.WithLabelValues(sensor).Set(float64(rec.Samples))
	r.Report(func(model string, mse, recent float64) {
		m.SensorMSE.WithLabelValues(sensor, model).Set(mse)
		m.SensorRecentMSE.WithLabelValues(sensor, model).Set(recent)
	})
}

// observeWrite counts one state write of size bytes outside a batch.
func (m *Metrics) observeWrite(size int) {
	if m == nil {
		return
	}
	m.StateWrites.Inc()
	m.StateBytes.Add(float64(size))
}

// observeBatch counts a batch acknowledged by Kafka.
func (m *Metrics) observeBatch(messages, sensors, bytes int, samples uint64) {
	if m == nil {
		return
	}
	m.BatchMessages.Observe(float64(messages))
	m.BatchSensors.Observe(float64(sensors))
	m.StateWrites.Add(float64(sensors))
	m.StateBytes.Add(float64(bytes))
	m.Written.Add(float64(samples))
}
