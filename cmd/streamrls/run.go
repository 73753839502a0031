package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/pipeline"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

func newRunCmd(g *globalFlags) *cobra.Command {
	var ef emitFlags
	var mf modelFlags
	var sf snapshotFlags
	var bf batchFlags
	var historyPoints int
	var dataDir, listen, httpAddr string
	var partitions, sensorMetrics int
	var interval time.Duration
	var hf httpAuthFlags
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
			ecfg, err := ef.config()
			if err != nil {
				return err
			}
			specs, err := mf.parse()
			if err != nil {
				return err
			}
			if partitions < 1 {
				return flagErr("--partitions %d: want ≥ 1", partitions)
			}
			if sensorMetrics < 0 {
				return flagErr("--sensor-metrics %d: want ≥ 0 (0: off)", sensorMetrics)
			}
			if interval <= 0 {
				return flagErr("--progress %v: want > 0", interval)
			}
			snaps, err := sf.policy()
			if err != nil {
				return err
			}
			if historyPoints < 2 {
				return flagErr("--history-points %d: want ≥ 2", historyPoints)
			}
			truth := emitter.NewTruth(ecfg)
			gokaUI := api.NewGokaUI(g.log)
			b, err := broker.Start(broker.Config{Listen: listen, DataDir: filepath.Join(dataDir, "broker"), Logger: g.log})
			if err != nil {
				return err
			}
			defer b.Close()
			kc := kafkaconf.Kafka{Brokers: []string{b.Addr()}}.WithDefaults()
			names := topology.Names{}.WithDefaults()

			ctx := cmd.Context()
			eg, ctx := errgroup.WithContext(ctx)
			reg := newRegistry()
			metrics := processor.NewMetrics(reg)
			metrics.SensorLimit = sensorMetrics
			// Topics first, so that the view finds the table.
			if err := processor.EnsureTopics(kc, names, partitions); err != nil {
				return err
			}
			pcfg := processor.Config{
				Names: names, Kafka: kc, Model: processor.RLS{Specs: specs}, StateDir: filepath.Join(dataDir, "processor"),
				Partitions: partitions, Metrics: metrics, Log: g.log, Snapshots: snaps,
				OnStart: gokaUI.AttachProcessor,
			}
			if err := bf.apply(&pcfg); err != nil {
				return err
			}
			eg.Go(func() error { return processor.Run(ctx, pcfg) })
			v, err := view.New(view.Config{Group: names.Group, Kafka: kc, StateDir: filepath.Join(dataDir, "view"), Log: g.log})
			if err != nil {
				return err
			}
			eg.Go(func() error { return v.Run(ctx) })
			if httpAddr != "" {
				hist, err := history.NewFollower(history.FollowerConfig{Group: names.Group, Kafka: kc, Points: historyPoints, Log: g.log})
				if err != nil {
					return err
				}
				eg.Go(func() error { return hist.Run(ctx) })
				srv := &api.Server{Views: []*view.View{v}, Registry: reg, Metrics: api.NewMetrics(reg, v), Log: g.log,
					Histories: []*history.Follower{hist}, Truth: truth, Goka: gokaUI}
				h, err := hf.wrap(httpAddr, srv.Handler(), g.log)
				if err != nil {
					return err
				}
				if err := serveHTTP(ctx, eg, httpAddr, h, g.log); err != nil {
					return err
				}
			}
			eg.Go(func() error {
				ecfg.Kafka, ecfg.Topic, ecfg.Partitions, ecfg.Log = kc, names.Input, partitions, g.log
				_, err := emitter.Run(ctx, ecfg)
				return err
			})
			eg.Go(func() error {
				pipeline.LiveTable(ctx, os.Stdout, v, truth, interval)
				return nil
			})
			err = eg.Wait()
			g.log.Info("stopped")
			return err
		},
	}
	ef.register(cmd.Flags(), 0, 5000)
	mf.register(cmd.Flags())
	sf.register(cmd.Flags())
	bf.register(cmd.Flags())
	cmd.Flags().IntVar(&historyPoints, "history-points", history.DefaultPoints, "snapshots kept per sensor for the curves of --http")
	cmd.Flags().StringVar(&dataDir, "data-dir", "streamrls-data", "directory for the broker's log and the processor's and view's state; a second run continues from it")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address of the embedded broker (port 0: any free port)")
	cmd.Flags().StringVar(&httpAddr, "http", "", "also serve the HTTP API of `serve` on this address (e.g. 127.0.0.1:8080)")
	cmd.Flags().IntVar(&partitions, "partitions", topology.DefaultPartitions, "partitions of the samples topic")
	cmd.Flags().DurationVar(&interval, "progress", time.Second, "how often to refresh the live table")
	cmd.Flags().IntVar(&sensorMetrics, "sensor-metrics", 0, "with --http: per-sensor MSE gauges for at most this many sensors; 0: off")
	hf.register(cmd.Flags())
	return cmd
}
