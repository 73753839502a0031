package processor

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Counts are a processor's running totals since it started. The handler
// counts into them, Metrics exports them to Prometheus at every scrape, and
// Replay and the bench read them directly. Safe for concurrent use.
type Counts struct {
	Messages    atomic.Uint64 // input messages handled, duplicates and rejections included
	Applied     atomic.Uint64 // samples applied to every model of their sensor
	Written     atomic.Uint64 // samples whose state is written: handed to Kafka (no batches) or acknowledged (batches)
	Duplicates  atomic.Uint64 // redelivered messages skipped by their sensor's offset
	Sensors     atomic.Uint64 // sensor states created
	Restarts    atomic.Uint64 // goka processors rebuilt after an error
	StateWrites atomic.Uint64 // sensor states written to the table
	StateBytes  atomic.Uint64 // bytes of those states
	Deleted     atomic.Uint64 // sensors deleted (a null value with Tombstones delete, or the idle TTL)
	Anomalies   atomic.Uint64 // anomaly episodes opened in the score model (its anomaly events)
	Drifts      atomic.Uint64 // drift events (a model's change detector fired)
	rejected    [len(reasonList)]atomic.Uint64
}

// Rejected is the samples (or whole messages) rejected with reason.
func (c *Counts) Rejected(reason string) uint64 {
	if i, ok := reasonIndex[reason]; ok {
		return c.rejected[i].Load()
	}
	return 0
}

// RejectedAll is the samples (or whole messages) rejected for any reason.
func (c *Counts) RejectedAll() uint64 {
	var n uint64
	for i := range c.rejected {
		n += c.rejected[i].Load()
	}
	return n
}

func (c *Counts) reject(reason string) {
	if i, ok := reasonIndex[reason]; ok {
		c.rejected[i].Add(1)
	}
}

var reasonIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range reasonList {
		m[r] = i
	}
	return m
}()

// countsCollector exports Counts as Prometheus counters.
type countsCollector struct {
	c     *Counts
	descs []countDesc
	rej   *prometheus.Desc
}

type countDesc struct {
	d *prometheus.Desc
	v *atomic.Uint64
}

func newCountsCollector(c *Counts) *countsCollector {
	d := func(name, help string, v *atomic.Uint64) countDesc {
		return countDesc{prometheus.NewDesc(name, help, nil, nil), v}
	}
	return &countsCollector{c: c, descs: []countDesc{
		d("streamrls_samples_applied_total", "Samples applied to every model of their sensor.", &c.Applied),
		d("streamrls_messages_total", "Input messages processed (including duplicates and rejections).", &c.Messages),
		d("streamrls_messages_duplicate_total", "Redelivered messages skipped because their sensor's state already holds them.", &c.Duplicates),
		d("streamrls_sensors_created_total", "Sensor states created by this process.", &c.Sensors),
		d("streamrls_processor_restarts_total", "Times the goka processor stopped on an error and was rebuilt.", &c.Restarts),
		d("streamrls_state_writes_total", "Sensor states written to the group table (once per message without batches, once per updated sensor per batch with them).", &c.StateWrites),
		d("streamrls_state_write_bytes_total", "Bytes of the sensor states written to the group table's changelog.", &c.StateBytes),
		d("streamrls_sensors_deleted_total", "Sensors deleted: by a null value (when tombstones delete) or after the idle TTL without a message.", &c.Deleted),
		d("streamrls_anomalies_total", "Anomaly episodes: runs of samples whose |az| in the score model exceeded the anomaly threshold.", &c.Anomalies),
		d("streamrls_drifts_total", "Drift events: a model's change detector fired.", &c.Drifts),
		d("streamrls_samples_written_total", "Samples whose sensor state has been written to the table (with batches: acknowledged by Kafka).", &c.Written),
	}, rej: prometheus.NewDesc("streamrls_samples_rejected_total", "Samples (or whole messages, when undecodable) rejected, by reason.", []string{"reason"}, nil)}
}

func (cc *countsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cc.descs {
		ch <- d.d
	}
	ch <- cc.rej
}

func (cc *countsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range cc.descs {
		ch <- prometheus.MustNewConstMetric(d.d, prometheus.CounterValue, float64(d.v.Load()))
	}
	for i, r := range reasonList {
		ch <- prometheus.MustNewConstMetric(cc.rej, prometheus.CounterValue, float64(cc.c.rejected[i].Load()), r)
	}
}
