package main

import (
	"math"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/pipeline"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// runFlags are the flags of `run`.
type runFlags struct {
	emit          emitFlags
	models        modelFlags
	snapshots     snapshotFlags
	batch         batchFlags
	scores        scoreFlags
	jsonMap       jsonMapFlags
	http          httpFlags
	historyPoints int
	historyBytes  string
	dataDir       string
	listen        string
	partitions    int
	sensorMetrics int
	progress      time.Duration
	transactions  bool
	retention     time.Duration
	retentionSize string
	alerts        alertFlags
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	f.emit.register(fs, 0, 5000)
	f.models.register(fs)
	f.snapshots.register(fs)
	f.batch.register(fs)
	f.scores.register(fs)
	registerTransactions(fs, &f.transactions)
	f.jsonMap.register(fs)
	f.http.register(fs, "", "also serve the HTTP API of serve (dashboard, /v1/ routes) on this address (e.g. 127.0.0.1:8080)")
	fs.IntVar(&f.historyPoints, "history-points", history.DefaultPoints, "snapshots kept per sensor for the curves of --http")
	registerHistoryMaxBytes(fs, &f.historyBytes)
	fs.StringVar(&f.dataDir, "data-dir", "streamrls-data", "directory for the broker's log and the processor's and view's state; a second run continues from it")
	fs.StringVar(&f.listen, "listen", pipeline.DefaultListen, "address of the embedded broker (port 0: any free port)")
	fs.IntVar(&f.partitions, "partitions", topology.DefaultPartitions, "partitions of the samples topic")
	fs.DurationVar(&f.progress, "progress", pipeline.DefaultProgress, "how often to refresh the live table")
	fs.IntVar(&f.sensorMetrics, "sensor-metrics", 0, "with --http: per-sensor MSE gauges for at most this many sensors; 0: off")
	fs.DurationVar(&f.retention, "retention", pipeline.DefaultRetention, "age past which stream records (samples, dead letters, snapshots, scores, events) are deleted; 0: no limit")
	fs.StringVar(&f.retentionSize, "retention-bytes", strings.ReplaceAll(humanize.IBytes(pipeline.DefaultRetentionBytes), " ", ""),
		"size of each stream topic past which its oldest records are deleted, split over partitions; 0: no limit")
	f.alerts.register(fs)
}

// Smallest limits of `run`'s retention: a sample must outlive a restart of
// the processor, and a partition's share must hold a segment.
const (
	minRetention      = time.Minute
	minRetentionBytes = 1 << 20 // per partition
)

// retentionLimits checks --retention and --retention-bytes, and turns "0: no
// limit" into pipeline's negative.
func (f *runFlags) retentionLimits() (time.Duration, int64, error) {
	age, size := f.retention, int64(-1)
	switch {
	case age == 0:
		age = -1
	case age < minRetention:
		return 0, 0, flagErr("--retention %v: want 0 (no limit) or at least %v", f.retention, minRetention)
	}
	n, err := humanize.ParseBytes(f.retentionSize)
	if err != nil || n > math.MaxInt64 {
		return 0, 0, flagErr("--retention-bytes %q: want a size such as 256MiB, or 0 (no limit)", f.retentionSize)
	}
	if n > 0 {
		if least := uint64(minRetentionBytes * max(f.partitions, 1)); n < least {
			return 0, 0, flagErr("--retention-bytes %q: want 0 (no limit) or at least %s (1 MiB per partition of --partitions %d)",
				f.retentionSize, humanize.IBytes(least), f.partitions)
		}
		size = int64(n)
	}
	return age, size, nil
}

// config checks the flags; the HTTP listener is left to the caller.
func (f *runFlags) config(g *globalFlags) (pipeline.Config, error) {
	cfg := pipeline.Config{DataDir: f.dataDir, Listen: f.listen, Partitions: f.partitions, HistoryPoints: f.historyPoints,
		SensorMetrics: f.sensorMetrics, Progress: f.progress, Log: g.log}
	var err error
	if cfg.Emitter, err = f.emit.config(); err != nil {
		return cfg, err
	}
	specs, err := f.models.parse()
	if err != nil {
		return cfg, err
	}
	if err := f.scores.apply(&cfg.Processor, specs); err != nil {
		return cfg, err
	}
	for _, check := range []error{checkPartitions(f.partitions), checkSensorMetrics(f.sensorMetrics), checkProgress(f.progress)} {
		if check != nil {
			return cfg, check
		}
	}
	if cfg.Retention, cfg.RetentionBytes, err = f.retentionLimits(); err != nil {
		return cfg, err
	}
	cfg.Processor.Snapshots = f.snapshots.policy()
	cfg.Processor.NoTransactions = !f.transactions
	if err := checkHistoryPoints(f.historyPoints); err != nil {
		return cfg, err
	}
	if cfg.HistoryMaxBytes, err = parseHistoryMaxBytes(f.historyBytes); err != nil {
		return cfg, err
	}
	if err := f.batch.apply(&cfg.Processor); err != nil {
		return cfg, err
	}
	f.jsonMap.apply(&cfg.Processor)
	if cfg.Alerts, err = f.alerts.config(); err != nil {
		return cfg, err
	}
	if cfg.Alerts.Enabled() && f.http.addr == "" {
		return cfg, flagErr("--alertmanager and --alert-webhook need --http: the API's events follower sends the alerts")
	}
	cfg.Processor.AR = f.emit.ar
	if !cfg.Processor.JSONMapping.IsZero() && f.emit.format != "json" {
		// The mapping reads the emitter's samples too.
		return cfg, flagErr("--json-y with --format %s: the emitter's samples are read by the mapping, want --format json", f.emit.format)
	}
	if f.emit.dim > processor.DefaultFleetMaxDim {
		cfg.Processor.MaxDim = f.emit.dim // run's own samples are never dead-lettered for their size
	}
	if d := f.emit.ar + 1; f.emit.ar > 0 && d > max(cfg.Processor.MaxDim, processor.DefaultFleetMaxDim) {
		cfg.Processor.MaxDim = min(d, processor.DefaultMaxDim)
	}
	return cfg, checkProcessor(cfg.Processor)
}

func newRunCmd(g *globalFlags) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run everything in one process: embedded broker, processor, view, emitter",
		Long: `Starts the embedded broker on --data-dir, a processor, a view and the
synthetic emitter, and prints a live table every --progress interval:
elapsed time, samples applied, samples per second, sensors, and for sensor
"1" each model's distance ‖θ − θ*‖₂ to the true coefficients (θ* as it is
now, under --drift) and its recent MSE. On a terminal the table is redrawn in
place; otherwise (a pipe, a file) one line is printed per interval. With
--http it also serves the API, the dashboard with every sensor's learning
curves and goka's monitor. SIGINT or SIGTERM stops it cleanly; a second run on
the same --data-dir continues from the stored state (θ* of a drift is counted
from the first run's first sample: after a restart the emitter starts its
sequences again, so the curves' θ* no longer match).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			if cfg.HTTP, err = f.http.listen(g.log); err != nil {
				return err
			}
			return pipeline.Run(cmd.Context(), cfg)
		},
	}
	f.register(cmd.Flags())
	return cmd
}
