// Package pipeline assembles streamrls's roles out of its packages: the
// whole pipeline in one process (Run), a processor with its metrics
// endpoint (Process), a replay into a new group (Replay), the HTTP API over
// views and snapshot followers (Serve) and the emitter with its progress
// (Emit). The command line only turns flags into these configurations.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/sync/errgroup"

	"github.com/streamrls/streamrls/alert"
	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// Defaults of Config.
const (
	DefaultListen   = "127.0.0.1:0"
	DefaultProgress = time.Second
	// DefaultRetention and DefaultRetentionBytes bound each stream the
	// embedded broker keeps (Config.Retention): an hour of the default
	// emitter's samples would be larger than a laptop should keep for a
	// demonstration, so they reach the size first.
	DefaultRetention      = time.Hour
	DefaultRetentionBytes = 256 << 20
)

// Config is the whole pipeline in one process: the embedded broker, a
// processor, a view, the synthetic emitter, a live table and, with an HTTP
// listener, the API with the snapshots' curves.
type Config struct {
	// DataDir keeps the broker's log (DataDir/broker) and the processor's
	// and view's state (DataDir/processor, DataDir/view); a second run on
	// it continues from the stored state. Required.
	DataDir string
	// Listen is the embedded broker's address. Default DefaultListen (any
	// free port).
	Listen string
	// Retention bounds each stream topic of the embedded broker by age
	// (samples, dead letters, snapshots, scores, events; the table is
	// compacted instead), and RetentionBytes by size, split over its
	// partitions (kafkaconf.StreamLimits): a replay covers what is left.
	// Default DefaultRetention and DefaultRetentionBytes; negative: no
	// limit.
	Retention      time.Duration
	RetentionBytes int64
	// Partitions of the input topic. Default topology.DefaultPartitions.
	Partitions int
	// Processor is the processor's model, snapshots and batches; Run sets
	// its names, Kafka, state directory, partitions, metrics and logger.
	Processor processor.Config
	// Emitter is the synthetic samples; Run sets its Kafka, topic,
	// partitions and logger.
	Emitter emitter.Config
	// HTTP serves the API, the dashboard and goka's monitor (no listener:
	// none).
	HTTP HTTP
	// HistoryPoints is how many snapshots per sensor the curves of HTTP
	// keep. Default history.DefaultPoints.
	HistoryPoints int
	// HistoryMaxBytes bounds the curves of HTTP, kept in DataDir/history.
	// Default history.DefaultMaxBytes.
	HistoryMaxBytes int64
	// Events bounds the events HTTP keeps and sets predict's intervals.
	Events Events
	// Alerts, with HTTP, posts the anomaly episodes and drifts (ServeConfig.Alerts).
	Alerts alert.Config
	// SensorMetrics exports per-sensor MSE gauges for at most this many
	// sensors (the first updated). Default none.
	SensorMetrics int
	// Progress is how often the live table is refreshed. Default
	// DefaultProgress.
	Progress time.Duration
	// Out receives the live table. Default os.Stdout.
	Out io.Writer
	// Log receives the roles' logs. Default slog.Default().
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Partitions == 0 {
		c.Partitions = topology.DefaultPartitions
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = DefaultRetentionBytes
	}
	if c.HistoryPoints == 0 {
		c.HistoryPoints = history.DefaultPoints
	}
	if c.Progress == 0 {
		c.Progress = DefaultProgress
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports the first field of c (defaults applied) that Run cannot
// use.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.DataDir == "":
		return errors.New("pipeline: DataDir is required")
	case c.Partitions < 1:
		return fmt.Errorf("pipeline: Partitions %d: want ≥ 1", c.Partitions)
	case c.Progress < 0:
		return fmt.Errorf("pipeline: Progress %v: want > 0", c.Progress)
	case c.HistoryPoints < 2:
		return fmt.Errorf("pipeline: HistoryPoints %d: want ≥ 2", c.HistoryPoints)
	case c.SensorMetrics < 0:
		return fmt.Errorf("pipeline: SensorMetrics %d: want ≥ 0", c.SensorMetrics)
	}
	return nil
}

// Run runs the pipeline until ctx ends or a role fails.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	log := cfg.Log
	b, err := broker.Start(broker.Config{Listen: cfg.Listen, DataDir: filepath.Join(cfg.DataDir, "broker"), Logger: log})
	if err != nil {
		return err
	}
	defer b.Close()
	kc := kafkaconf.Kafka{Brokers: []string{b.Addr()}}.WithDefaults()
	names := topology.Names{}.WithDefaults()
	// Topics first, so that the view finds the table.
	if err := processor.EnsureTopics(kc, names, cfg.Partitions); err != nil {
		return err
	}
	if err := cfg.limitStreams(kc, names); err != nil {
		return err
	}
	eg, ctx := errgroup.WithContext(ctx)
	err = cfg.start(ctx, eg, kc, names)
	if err == nil {
		err = eg.Wait()
	}
	log.Info("stopped")
	return err
}

// limitStreams sets the retention of Config.Retention on the stream topics,
// new or kept from an earlier run, and logs it.
func (cfg Config) limitStreams(kc kafkaconf.Kafka, names topology.Names) error {
	l := kafkaconf.StreamLimits{Time: max(cfg.Retention, 0), Bytes: max(cfg.RetentionBytes, 0)}
	streams := []string{names.Input, names.DeadLetter, names.Snapshots, names.Scores, names.Events}
	if err := kc.LimitStreams(streams, l); err != nil {
		return err
	}
	limit := func(set bool, v string) string {
		if !set {
			return "none"
		}
		return v
	}
	cfg.Log.Info("streams retained; a replay covers what is retained", "topics", streams, "time", limit(l.Time > 0, l.Time.String()),
		"bytes_per_topic", limit(l.Bytes > 0, humanize.IBytes(uint64(l.Bytes))), "table", "compacted",
		"cleaner_interval", broker.DefaultCleanerInterval)
	return nil
}

// start starts every role of the pipeline on kc.
func (cfg Config) start(ctx context.Context, eg *errgroup.Group, kc kafkaconf.Kafka, names topology.Names) error {
	truth := emitter.NewTruth(cfg.Emitter)
	gokaUI := api.NewGokaUI(cfg.Log)
	reg := newRegistry()
	pcfg := cfg.Processor
	pcfg.Names, pcfg.Kafka, pcfg.StateDir, pcfg.Partitions = names, kc, filepath.Join(cfg.DataDir, "processor"), cfg.Partitions
	pcfg.Metrics, pcfg.Log, pcfg.OnStart = processor.NewMetrics(reg), cfg.Log, gokaUI.AttachProcessor
	pcfg.Metrics.SensorLimit = cfg.SensorMetrics
	pcfg.Health = processor.NewHealth(pcfg)
	eg.Go(func() error { return processor.Run(ctx, pcfg) })
	viewDir := filepath.Join(cfg.DataDir, "view")
	release, err := tablestore.LockDir(viewDir)
	if err != nil {
		return err
	}
	v, err := view.New(view.Config{Group: names.Group, Kafka: kc, StateDir: viewDir, Log: cfg.Log})
	if err != nil {
		release()
		return err
	}
	eg.Go(func() error {
		defer release()
		return v.Run(ctx)
	})
	if cfg.HTTP.Listener != nil {
		hist, err := history.NewFollower(history.FollowerConfig{Group: names.Group, Kafka: kc, Points: cfg.HistoryPoints,
			Dir: HistoryDir(cfg.DataDir, names.Group), MaxBytes: cfg.HistoryMaxBytes, Log: cfg.Log})
		if err != nil {
			return err
		}
		eg.Go(func() error { return hist.Run(ctx) })
		alerts, err := startAlerts(ctx, eg, cfg.Alerts, reg, cfg.Log)
		if err != nil {
			return err
		}
		events, err := cfg.Events.follower(names.Group, kc, alerts, cfg.Log)
		if err != nil {
			return err
		}
		eg.Go(func() error { return events.Run(ctx) })
		srv := &api.Server{Views: []*view.View{v}, Registry: reg, Metrics: api.NewMetrics(reg, v), Log: cfg.Log,
			Histories: []*history.Follower{hist}, Events: []*history.EventFollower{events}, Truth: truth, Goka: gokaUI,
			IntervalLevel: cfg.Events.IntervalLevel, Health: pcfg.Health.Check}
		serveHTTP(ctx, eg, cfg.HTTP, srv.Handler(), cfg.Log)
	}
	eg.Go(func() error {
		ecfg := cfg.Emitter
		ecfg.Kafka, ecfg.Topic, ecfg.Partitions, ecfg.Log = kc, names.Input, cfg.Partitions, cfg.Log
		_, err := emitter.Run(ctx, ecfg)
		return err
	})
	eg.Go(func() error {
		liveTable(ctx, cfg.Out, v, truth, cfg.Progress)
		return nil
	})
	return nil
}
