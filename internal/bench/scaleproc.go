package bench

import (
	"cmp"
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
// sensors and at Sensors sensors, one after the other, Config.Rounds
// times alternately, each run on a new group over the same two inputs.
type ScaleProcess struct {
	Sensors int         `json:"sensors"`
	Order   string      `json:"order"` // of the samples in both inputs (Config.ScaleOrder)
	Small   *Throughput `json:"small"` // at smallSensors sensors, the median round
	Large   *Throughput `json:"large"` // at Sensors sensors, the median round
	// LargeOverSmall is the median of RoundsLargeOverSmall, each round's
	// Large over Small in samples/s: a round's two runs are next to each
	// other in time, so their ratio is less sensitive to the machine's
	// other load than a ratio of medians.
	LargeOverSmall       float64   `json:"ratio"`
	RoundsLargeOverSmall []float64 `json:"round_ratios"`
	// RSSMiB is this process's resident set at the end of the first large
	// run (an embedded broker, which holds the topics in memory,
	// included); HeapMiB is the Go heap in use then.
	RSSMiB  float64 `json:"rss_mib"`
	HeapMiB float64 `json:"heap_mib"`
}

// scaleProcess is phase (p).
func (r *runner) scaleProcess(ctx context.Context) (*ScaleProcess, error) {
	res := &ScaleProcess{Sensors: r.cfg.Sensors, Order: r.cfg.ScaleOrder}
	r.log.Info("phase p: processing rate at 64 sensors and at --sensors", "sensors", r.cfg.Sensors, "messages", r.cfg.Messages,
		"order", r.cfg.ScaleOrder, "rounds", r.cfg.Rounds)
	small, err := r.scaleInput(ctx, smallSensors)
	if err != nil {
		return nil, err
	}
	large, err := r.scaleInput(ctx, r.cfg.Sensors)
	if err != nil {
		return nil, err
	}
	large.r.afterSingle = func() {
		if res.RSSMiB == 0 {
			res.RSSMiB = rssMiB(os.Getpid())
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			res.HeapMiB = float64(ms.HeapInuse) / (1 << 20)
		}
	}
	var smalls, larges []*Throughput
	for round := range r.cfg.Rounds {
		s, err := small.run(ctx, round)
		if err != nil {
			return nil, fmt.Errorf("phase p at %d sensors, round %d: %w", smallSensors, round+1, err)
		}
		l, err := large.run(ctx, round)
		if err != nil {
			return nil, fmt.Errorf("phase p at %d sensors, round %d: %w", r.cfg.Sensors, round+1, err)
		}
		smalls, larges = append(smalls, s), append(larges, l)
		if s.SamplesPerSec > 0 {
			res.RoundsLargeOverSmall = append(res.RoundsLargeOverSmall, samplesOver(l, s))
		}
	}
	res.Small, res.Large = median(smalls), median(larges)
	if len(res.RoundsLargeOverSmall) > 0 {
		res.LargeOverSmall = lowerMedian(res.RoundsLargeOverSmall, cmp.Compare[float64])
	}
	return res, nil
}

// scaleInput is one of (p)'s inputs: a topic filled once, processed by a
// new group every round.
type scaleInput struct {
	r     runner // a copy of the phase's runner, set to the input's sensors
	topic string
}

// scaleInput fills the topic of (p)'s input at sensors sensors.
func (r *runner) scaleInput(ctx context.Context, sensors int) (*scaleInput, error) {
	in := &scaleInput{r: *r, topic: r.name("proc-" + strconv.Itoa(sensors))}
	in.r.cfg.Sensors = sensors
	in.r.sensorMajor = r.cfg.ScaleOrder == ScaleOrderSensor
	prefill, size, err := in.r.prefill(ctx, in.topic, r.cfg.Messages, 1)
	if err != nil {
		return nil, err
	}
	in.r.singlePrefill, in.r.singleBytes = prefill, size
	return in, nil
}

// run processes the input once, on a group of its own.
func (in *scaleInput) run(ctx context.Context, round int) (*Throughput, error) {
	sensors := in.r.cfg.Sensors
	t, err := in.r.single(ctx, in.topic, fmt.Sprintf("%d-%d", sensors, round), in.r.cfg.BatchInterval, false)
	if err != nil {
		return nil, err
	}
	t.Phase = LabelScale
	t.What = fmt.Sprintf("streamrls, %d sensors, 1 sample per message, %s order, batch interval %s", sensors, in.r.cfg.ScaleOrder, IntervalName(in.r.cfg.BatchInterval))
	return t, nil
}
