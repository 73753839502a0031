package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streamrls/streamrls/internal/progress"
	"github.com/streamrls/streamrls/processor"
)

// ProcessConfig is a processor with its metrics endpoint.
type ProcessConfig struct {
	// Processor is the processor; its Metrics are created by Process.
	Processor processor.Config
	// SensorMetrics exports per-sensor MSE gauges for at most this many
	// sensors (the first updated). Default none.
	SensorMetrics int
	// HTTP serves /healthz and Prometheus /metrics (no listener: none).
	// /healthz answers 503 while the processor does not work
	// (processor.Health).
	HTTP HTTP
}

// Process runs a processor until ctx ends or it fails.
func Process(ctx context.Context, cfg ProcessConfig) error {
	log := logger(cfg.Processor.Log)
	reg := newRegistry()
	pcfg := cfg.Processor
	pcfg.Metrics = processor.NewMetrics(reg)
	pcfg.Metrics.SensorLimit = cfg.SensorMetrics
	pcfg.Health = processor.NewHealth(pcfg)
	eg, ctx := errgroup.WithContext(ctx)
	serveMetrics(ctx, eg, cfg.HTTP, reg, pcfg.Health.Check, log)
	eg.Go(func() error { return processor.Run(ctx, pcfg) })
	return eg.Wait()
}

// Defaults of ReplayConfig.
const DefaultReplayProgress = 2 * time.Second

// ReplayConfig is a replay with its progress, summary and metrics endpoint.
type ReplayConfig struct {
	// Replay is the replay; its Metrics, Progress and CaughtUp are set by
	// Replay.
	Replay processor.ReplayConfig
	// Progress is how often progress is logged when Bar is not a terminal.
	// Default DefaultReplayProgress.
	Progress time.Duration
	// Bar receives the progress bar (drawn when it is a terminal). Default
	// os.Stderr.
	Bar io.Writer
	// Out receives the summary line. Default os.Stdout.
	Out io.Writer
	// HTTP serves /healthz and Prometheus /metrics while replaying (no
	// listener: none).
	HTTP HTTP
}

// Replay runs a replay until it has caught up (or, with Follow, until ctx
// ends) and prints its summary.
func Replay(ctx context.Context, cfg ReplayConfig) error {
	if cfg.Progress <= 0 {
		cfg.Progress = DefaultReplayProgress
	}
	if cfg.Bar == nil {
		cfg.Bar = os.Stderr
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	log := logger(cfg.Replay.Log)
	reg := newRegistry()
	rc := cfg.Replay
	rc.Metrics = processor.NewMetrics(reg)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, ctx := errgroup.WithContext(ctx)
	serveMetrics(ctx, eg, cfg.HTTP, reg, nil, log)
	show := &replayProgress{group: rc.Names.WithDefaults().Group, every: cfg.Progress, w: cfg.Bar, log: log}
	rc.Progress = show.update
	rc.CaughtUp = func(s processor.ReplaySummary) {
		show.finish()
		report(cfg.Out, log, s, "caught up; following")
	}
	eg.Go(func() error {
		defer cancel() // the HTTP server stops with the replay
		sum, err := processor.Replay(ctx, rc)
		show.finish()
		if err != nil {
			return err
		}
		if !rc.Follow {
			report(cfg.Out, log, sum, "replay done")
		}
		return nil
	})
	return eg.Wait()
}

// report prints the summary on w and logs it.
func report(w io.Writer, log *slog.Logger, s processor.ReplaySummary, msg string) {
	fmt.Fprintf(w, "%s: topic=%s group=%s samples=%d sensors=%d rejected=%d messages=%d seconds=%.3f samples_per_s=%.0f\n",
		msg, s.Topic, s.Group, s.Samples, s.Sensors, s.Rejected, s.Messages, s.Elapsed.Seconds(), s.Rate())
	log.Info(msg, "topic", s.Topic, "group", s.Group, "samples", s.Samples, "sensors", s.Sensors, "rejected", s.Rejected,
		"messages", s.Messages, "seconds", s.Elapsed.Seconds(), "samples_per_s", s.Rate())
}

// replayProgress shows the replay's progress with internal/progress (a bar
// on a terminal, a log line every interval otherwise), from the first
// report on, when the number of messages to replay is known.
type replayProgress struct {
	group string
	every time.Duration
	w     io.Writer
	log   *slog.Logger
	bar   *progress.Bar
	done  bool
}

func (r *replayProgress) update(p processor.ReplayProgress) {
	if r.done {
		return
	}
	if r.bar == nil {
		r.bar = progress.New(p.Total, "replay "+r.group, r.w,
			progress.WithLogger(r.log), progress.WithInterval(r.every), progress.WithUnit("messages"))
	}
	r.bar.Set(p.Done)
}

func (r *replayProgress) finish() {
	if r.done {
		return
	}
	r.done = true
	if r.bar != nil {
		r.bar.Finish()
	}
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
