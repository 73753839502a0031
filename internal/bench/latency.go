package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
)

// latency is phase (d): single-sample messages at a steady rate, processed
// at the batch interval; for every
// sample, the time from handing it to the producer (goka Emitter.Emit) to
// the view's update callback receiving the sensor state that includes it.
// The processor and the view are running and caught up before the first
// sample is sent.
func (r *runner) latency(ctx context.Context) (*Latency, error) {
	topic := r.name("latency")
	names := r.names("latency", topic)
	if err := r.ensureTable(names); err != nil {
		return nil, err
	}
	sensors := r.cfg.Sensors
	total := int(math.Ceil(r.cfg.Rate * r.cfg.LatencyDuration.Seconds()))
	perSensor := total/sensors + 1
	// sent[i][k]: when sensor i's k-th sample was emitted, in ns since base
	// (+1, so that 0 means not yet sent).
	sent := make([][]atomic.Int64, sensors)
	for i := range sent {
		sent[i] = make([]atomic.Int64, perSensor)
	}
	var base time.Time
	warm := r.cfg.Warmup
	lat := make([]time.Duration, 0, total)
	missing := 0
	w := newTableWatch(int64(total), func(key string, from, to uint64, now time.Duration) {
		i := sensorIndex(key, sensors)
		if i < 0 {
			return
		}
		for k := from; k < to && k < uint64(perSensor); k++ {
			t := sent[i][k].Load()
			if t == 0 {
				missing++
				continue
			}
			at := time.Duration(t - 1)
			if at < warm {
				continue
			}
			lat = append(lat, now-at)
		}
	})
	base = w.base
	vstop, err := r.startView(ctx, names.Group, r.dir("latency-view"), w)
	if err != nil {
		return nil, err
	}
	defer vstop()

	ready := make(chan *goka.Processor, 4)
	stop, failed := r.runProcessor(ctx, names, r.dir("latency"), r.cfg.BatchInterval, nil, func(p *goka.Processor) { ready <- p })
	defer stop()
	select {
	case p := <-ready:
		rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		err := p.WaitForReadyContext(rctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("processor not ready: %w", err)
		}
	case err := <-failed:
		return nil, fmt.Errorf("processor stopped: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	opts, err := r.cfg.Kafka.EmitterOptions()
	if err != nil {
		return nil, err
	}
	em, err := goka.NewEmitter(r.cfg.Kafka.Brokers, goka.Stream(topic), new(codec.Bytes), opts...)
	if err != nil {
		return nil, fmt.Errorf("emitter to %s: %w", topic, err)
	}
	r.log.Info("phase d: latency", "rate", r.cfg.Rate, "seconds", r.cfg.LatencyDuration.Seconds())
	gen := emitter.NewGenerator(sensors, r.cfg.Dim, emitter.DefaultTheta(r.cfg.Dim), 0.1, r.cfg.Seed)
	x := make([]float64, r.cfg.Dim)
	batch := make([]codec.Sample, 1)
	var emitErr atomic.Pointer[error]
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	start := time.Now()
	n := 0
	for ; n < total; n++ {
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		i := n % sensors
		batch[0] = gen.Next(i, x)
		value := codec.Encode(r.cfg.Format, nil, batch)
		sent[i][n/sensors].Store(int64(time.Since(base)) + 1)
		p, err := em.Emit(emitter.SensorID(i), value)
		if err != nil {
			em.Finish()
			return nil, fmt.Errorf("emit to %s: %w", topic, err)
		}
		p.Then(func(err error) {
			if err != nil {
				e := fmt.Errorf("emit to %s: %w", topic, err)
				emitErr.CompareAndSwap(nil, &e)
			}
		})
	}
	emitted := time.Since(start)
	if err := em.Finish(); err != nil {
		return nil, fmt.Errorf("emitter to %s: %w", topic, err)
	}
	if e := emitErr.Load(); e != nil {
		return nil, *e
	}
	if _, _, err := w.wait(ctx, failed, r.cfg.Timeout); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if missing > 0 {
		return nil, fmt.Errorf("%d samples seen in the view before they were sent: the latency topic was not fresh", missing)
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("no samples after the %v warm-up", warm)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return quantileMs(lat, p) }
	return &Latency{
		Rate: r.cfg.Rate, Achieved: float64(n) / emitted.Seconds(), Samples: len(lat), WarmupSecs: warm.Seconds(),
		P50Ms: q(0.50), P90Ms: q(0.90), P99Ms: q(0.99), MaxMs: q(1),
		BatchInterval: IntervalName(r.cfg.BatchInterval), BatchIntervalMs: max(r.cfg.BatchInterval, 0).Seconds() * 1000,
	}, nil
}
