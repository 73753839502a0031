package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// Recovery is phase (r): how long a processor and a view take to load a
// table of many sensors, from an empty local state (cold: the whole
// changelog is read) and from an up-to-date one (warm).
type Recovery struct {
	Sensors        int     `json:"sensors"`
	StateBytes     int     `json:"state_bytes"`
	TableBytes     int64   `json:"table_bytes"` // sensors × state bytes (the changelog holds one value per sensor)
	FillSeconds    float64 `json:"fill_seconds"`
	ProcessorCold  float64 `json:"processor_cold_seconds"`
	ProcessorWarm  float64 `json:"processor_warm_seconds"`
	ViewCold       float64 `json:"view_cold_seconds"`
	ViewWarm       float64 `json:"view_warm_seconds"`
	ViewSensorsGot int     `json:"view_sensors"`
}

func (r *runner) recovery(ctx context.Context) (*Recovery, error) {
	n := r.cfg.RecoverySensors
	topic := r.name("recovery")
	names := r.names("recovery", topic)
	rec := &Recovery{Sensors: n, StateBytes: StateBytes(r.cfg.Specs, r.cfg.Dim)}
	rec.TableBytes = int64(n) * int64(rec.StateBytes)

	// One single-sample message per sensor: every sensor gets a full state.
	r.log.Info("phase r: filling the table", "sensors", n)
	start := time.Now()
	saved := r.cfg.Sensors
	r.cfg.Sensors = n
	_, _, err := r.prefill(ctx, topic, int64(n), 1)
	r.cfg.Sensors = saved
	if err != nil {
		return nil, err
	}
	metrics := processor.NewMetrics(nil)
	warmDir := r.dir("recovery")
	stop, failed := r.runProcessor(ctx, names, warmDir, r.cfg.BatchInterval, metrics, nil)
	_, _, err = poll(ctx, int64(n), func() int64 { return int64(metrics.Written.Load()) }, nil, failed, r.cfg.Timeout)
	stop()
	if err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	rec.FillSeconds = time.Since(start).Seconds()

	if rec.ProcessorCold, err = r.timeProcessorReady(ctx, names, r.dir("recovery-cold")); err != nil {
		return nil, fmt.Errorf("cold processor: %w", err)
	}
	if rec.ProcessorWarm, err = r.timeProcessorReady(ctx, names, warmDir); err != nil {
		return nil, fmt.Errorf("warm processor: %w", err)
	}
	viewDir := r.dir("recovery-view")
	if rec.ViewCold, rec.ViewSensorsGot, err = r.timeViewRecovered(ctx, names.Group, viewDir); err != nil {
		return nil, fmt.Errorf("cold view: %w", err)
	}
	if rec.ViewSensorsGot != n {
		return nil, fmt.Errorf("cold view: %d sensors, want %d", rec.ViewSensorsGot, n)
	}
	if rec.ViewWarm, _, err = r.timeViewRecovered(ctx, names.Group, viewDir); err != nil {
		return nil, fmt.Errorf("warm view: %w", err)
	}
	return rec, nil
}

// timeProcessorReady starts a processor on dir and returns the seconds until
// goka reports every partition running (table recovered).
func (r *runner) timeProcessorReady(ctx context.Context, names topology.Names, dir string) (float64, error) {
	ready := make(chan *goka.Processor, 4)
	start := time.Now()
	stop, failed := r.runProcessor(ctx, names, dir, r.cfg.BatchInterval, nil, func(p *goka.Processor) { ready <- p })
	defer stop()
	select {
	case p := <-ready:
		rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
		if err := p.WaitForReadyContext(rctx); err != nil {
			return 0, err
		}
		return time.Since(start).Seconds(), nil
	case err := <-failed:
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// timeViewRecovered starts a view (as `serve` does) on dir and returns the
// seconds until it has caught up, and the sensors it then holds.
func (r *runner) timeViewRecovered(ctx context.Context, group, dir string) (float64, int, error) {
	start := time.Now()
	v, err := view.New(view.Config{Group: group, Kafka: r.cfg.Kafka, StateDir: dir, Log: r.log})
	if err != nil {
		return 0, 0, err
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(vctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer wcancel()
	if err := v.WaitRecovered(wctx); err != nil {
		return 0, 0, err
	}
	took := time.Since(start).Seconds()
	ids, _, err := v.Sensors("", 0)
	if err != nil {
		return took, 0, err
	}
	return took, len(ids), nil
}
