package pipeline

import (
	"context"
	"log/slog"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamrls/streamrls/alert"
	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/view"
)

// ServeConfig is the HTTP API over a view and a snapshots follower per
// group.
type ServeConfig struct {
	// Kafka is where the groups' tables and snapshots are.
	Kafka kafkaconf.Kafka
	// Groups are the groups served; the first is the default of
	// /v1/sensors. At least one.
	Groups []string
	// StateDir keeps the views' local table copies and, under history/,
	// each group's learning curves. Required.
	StateDir string
	// HistoryPoints is how many snapshots per sensor the curves keep.
	// Default history.DefaultPoints.
	HistoryPoints int
	// HistoryMaxBytes bounds the curves kept per group in StateDir/history.
	// Default history.DefaultMaxBytes.
	HistoryMaxBytes int64
	// Truth, if set, is θ* for the plots and the dashboard.
	Truth api.Truth
	// Events bounds the events kept of each group and sets predict's
	// intervals.
	Events Events
	// Alerts, if it has a receiver, posts each group's anomaly episodes and
	// drifts as they arrive on its events topic.
	Alerts alert.Config
	// HTTP serves the API. Its listener is required.
	HTTP HTTP
	// Log receives the logs. Default slog.Default().
	Log *slog.Logger
}

// HistoryDir is where a group's learning curves are kept under a state
// directory.
func HistoryDir(stateDir, group string) string { return filepath.Join(stateDir, "history", group) }

// Serve serves the API until ctx ends or a view fails. It stops at once
// when the brokers refuse the credentials or another process holds
// StateDir's lock.
func Serve(ctx context.Context, cfg ServeConfig) error {
	log := logger(cfg.Log)
	if err := cfg.Kafka.CheckAuthOrWarn(ctx, log); err != nil {
		return err
	}
	// One lock for every group's view: they share the directory.
	release, err := tablestore.LockDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer release()
	eg, ctx := errgroup.WithContext(ctx)
	reg := newRegistry()
	alerts, err := startAlerts(ctx, eg, cfg.Alerts, reg, log)
	if err != nil {
		return err
	}
	var views []*view.View
	var histories []*history.Follower
	var events []*history.EventFollower
	for _, grp := range cfg.Groups {
		v, err := view.New(view.Config{Group: grp, Kafka: cfg.Kafka, StateDir: cfg.StateDir, Log: log})
		if err != nil {
			return err
		}
		views = append(views, v)
		eg.Go(func() error { return v.Run(ctx) })
		h, err := history.NewFollower(history.FollowerConfig{Group: grp, Kafka: cfg.Kafka, Points: cfg.HistoryPoints,
			Dir: HistoryDir(cfg.StateDir, grp), MaxBytes: cfg.HistoryMaxBytes, Log: log})
		if err != nil {
			return err
		}
		histories = append(histories, h)
		eg.Go(func() error { return h.Run(ctx) })
		e, err := cfg.Events.follower(grp, cfg.Kafka, alerts, log)
		if err != nil {
			return err
		}
		events = append(events, e)
		eg.Go(func() error { return e.Run(ctx) })
	}
	srv := &api.Server{Views: views, Registry: reg, Metrics: api.NewMetrics(reg, views...), Log: log,
		Histories: histories, Events: events, Truth: cfg.Truth, IntervalLevel: cfg.Events.IntervalLevel}
	serveHTTP(ctx, eg, cfg.HTTP, srv.Handler(), log)
	return eg.Wait()
}

// Events is how the API keeps each group's events (GROUP-events) and
// draws predict's intervals.
type Events struct {
	// PerSensor is how many events a sensor keeps. Default
	// history.DefaultEventsPerSensor.
	PerSensor int
	// Max bounds the events kept per group, in memory. Default
	// history.DefaultMaxEvents.
	Max int
	// IntervalLevel is the coverage of predict's [lo, hi]. Default
	// rls.DefaultIntervalLevel.
	IntervalLevel float64
}

func (e Events) follower(group string, kc kafkaconf.Kafka, alerts *alert.Sender, log *slog.Logger) (*history.EventFollower, error) {
	var on func(schema.Event)
	if alerts != nil {
		on = func(ev schema.Event) { alerts.Event(group, ev) }
	}
	return history.NewEventFollower(history.EventFollowerConfig{Group: group, Kafka: kc,
		PerSensor: e.PerSensor, MaxEvents: e.Max, OnEvent: on, Log: log})
}

// startAlerts runs the sender of cfg, if it has a receiver, with its
// counters in reg; nil if it has none.
func startAlerts(ctx context.Context, eg *errgroup.Group, cfg alert.Config, reg *prometheus.Registry, log *slog.Logger) (*alert.Sender, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.Log == nil {
		cfg.Log = log
	}
	s, err := alert.New(cfg)
	if err != nil {
		return nil, err
	}
	for _, r := range s.Receivers() {
		for _, c := range []struct {
			name, help string
			get        func() uint64
		}{
			{"sent", "alerts posted to the receiver", r.Sent},
			{"failed", "alerts given up on after retries", r.Failed},
			{"dropped", "alerts dropped because the receiver's queue was full", r.Dropped},
		} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "streamrls_alerts_" + c.name + "_total",
				Help: c.help + ".", ConstLabels: prometheus.Labels{"receiver": r.Name}}, func() float64 { return float64(c.get()) }))
		}
	}
	eg.Go(func() error { return s.Run(ctx) })
	return s, nil
}
