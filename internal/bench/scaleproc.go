package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// smallSensors is the sensor count that (p) compares --sensors with.
const smallSensors = 64

// ScaleProcess is phase (p): the same number of single-sample binary
// messages, spread over the sensors in Order (round-robin, as the emitter
// sends them, by default), through the real processor at smallSensors
// sensors and at Sensors sensors, one after the other in this run.
type ScaleProcess struct {
	Sensors int         `json:"sensors"`
	Order   string      `json:"order"` // of the samples in both inputs (Config.ScaleOrder)
	Small   *Throughput `json:"small"` // at smallSensors sensors
	Large   *Throughput `json:"large"` // at Sensors sensors
	// Ratio is Large over Small in samples/s.
	Ratio float64 `json:"ratio"`
	// RSSMiB is this process's resident set at the end of the large run
	// (an embedded broker, which holds the topics in memory, included);
	// HeapMiB is the Go heap in use then.
	RSSMiB  float64 `json:"rss_mib"`
	HeapMiB float64 `json:"heap_mib"`
}

// scaleProcess is phase (p).
func (r *runner) scaleProcess(ctx context.Context) (*ScaleProcess, error) {
	res := &ScaleProcess{Sensors: r.cfg.Sensors, Order: r.cfg.ScaleOrder}
	run := func(sensors int) (*Throughput, error) {
		sr := *r
		sr.cfg.Sensors = sensors
		sr.sensorMajor = r.cfg.ScaleOrder == ScaleOrderSensor
		topic := r.name("proc-" + strconv.Itoa(sensors))
		prefill, size, err := sr.prefill(ctx, topic, r.cfg.Messages, 1)
		if err != nil {
			return nil, err
		}
		sr.singlePrefill, sr.singleBytes = prefill, size
		t, err := sr.single(ctx, topic, sensors, r.cfg.BatchInterval)
		if err != nil {
			return nil, err
		}
		t.Phase = PhaseScaleProcess
		t.What = fmt.Sprintf("streamrls, %d sensors, 1 sample per message, %s order, batch interval %s", sensors, r.cfg.ScaleOrder, IntervalName(r.cfg.BatchInterval))
		return t, nil
	}
	var err error
	r.log.Info("phase p: processing rate at 64 sensors and at --sensors", "sensors", r.cfg.Sensors, "messages", r.cfg.Messages, "order", r.cfg.ScaleOrder)
	if res.Small, err = run(smallSensors); err != nil {
		return nil, err
	}
	r.afterSingle = func() {
		res.RSSMiB = rssMiB(os.Getpid())
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		res.HeapMiB = float64(ms.HeapInuse) / (1 << 20)
	}
	defer func() { r.afterSingle = nil }()
	if res.Large, err = run(r.cfg.Sensors); err != nil {
		return nil, err
	}
	if res.Small.SamplesPerSec > 0 {
		res.Ratio = res.Large.SamplesPerSec / res.Small.SamplesPerSec
	}
	return res, nil
}
