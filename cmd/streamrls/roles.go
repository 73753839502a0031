package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/internal/progress"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/view"
)

func newBrokerCmd(g *globalFlags) *cobra.Command {
	var listen, dataDir string
	var sync bool
	var sf securityFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker (kfake) on a data directory",
		Long: `Runs a one-node Kafka-protocol broker that keeps its log in --data-dir, so
that any Kafka client (goka, kafka-python, kcat) can use it and a restart
keeps every topic. Stops cleanly on SIGINT/SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := sf.server()
			if err != nil {
				return err
			}
			b, err := broker.Start(broker.Config{Listen: listen, DataDir: dataDir, SyncWrites: sync, Options: opts, Logger: g.log})
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			b.Close()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9092", "host:port to accept Kafka clients on")
	cmd.Flags().StringVar(&dataDir, "data-dir", "streamrls-broker", "directory that keeps the broker's topics across restarts")
	cmd.Flags().BoolVar(&sync, "sync-writes", false, "fsync every produced batch (survives power loss, slower)")
	sf.register(cmd.Flags(), true)
	return cmd
}

func newProcessCmd(g *globalFlags) *cobra.Command {
	var kf kafkaFlags
	var nf namesFlags
	var mf modelFlags
	var sf snapshotFlags
	var bf batchFlags
	var stateDir, httpAddr string
	var maxDim, sensorMetrics int
	var hf httpAuthFlags
	cmd := &cobra.Command{
		Use:   "process",
		Short: "Run a processor: update every sensor's models from the input topic",
		Long: `Consumes the input topic as goka group --group, applies every sample to its
sensor's bank of RLS models exactly once in effect, keeps the state in the
compacted table GROUP-table (and a local copy in --state-dir) and sends bad
input to the dead-letter topic. Run several on one group to share the
partitions. Creates missing topics; an existing input topic of any partition
count is accepted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			names, err := nf.names()
			if err != nil {
				return err
			}
			specs, err := mf.parse()
			if err != nil {
				return err
			}
			if maxDim < 1 {
				return flagErr("--max-dim %d: want ≥ 1", maxDim)
			}
			if stateDir == "" {
				return flagErr("--state-dir is required: each processor needs its own directory")
			}
			snaps, err := sf.policy()
			if err != nil {
				return err
			}
			if sensorMetrics < 0 {
				return flagErr("--sensor-metrics %d: want ≥ 0 (0: off)", sensorMetrics)
			}
			reg := newRegistry()
			metrics := processor.NewMetrics(reg)
			metrics.SensorLimit = sensorMetrics
			ctx := cmd.Context()
			eg, ctx := errgroup.WithContext(ctx)
			if err := serveMetrics(ctx, eg, httpAddr, reg, hf, g.log); err != nil {
				return err
			}
			pcfg := processor.Config{
				Names: names, Kafka: kc, Model: processor.RLS{Specs: specs}, StateDir: stateDir,
				Partitions: nf.partitions, MaxDim: maxDim, Metrics: metrics, Log: g.log, Snapshots: snaps,
			}
			if err := bf.apply(&pcfg); err != nil {
				return err
			}
			eg.Go(func() error { return processor.Run(ctx, pcfg) })
			return eg.Wait()
		},
	}
	kf.register(cmd.Flags())
	nf.register(cmd.Flags())
	mf.register(cmd.Flags())
	sf.register(cmd.Flags())
	bf.register(cmd.Flags())
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "directory of this processor's local table copy (required; one per process)")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9100)")
	cmd.Flags().IntVar(&maxDim, "max-dim", processor.DefaultMaxDim, "largest dimension a sensor may have; larger samples are dead-lettered")
	cmd.Flags().IntVar(&sensorMetrics, "sensor-metrics", 0, "export per-sensor MSE gauges for at most this many sensors (the first ones updated); 0: off")
	hf.register(cmd.Flags())
	return cmd
}

func newServeCmd(g *globalFlags) *cobra.Command {
	var kf kafkaFlags
	var groups []string
	var stateDir, httpAddr string
	var hf httpAuthFlags
	var histf historyFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the latest state of every sensor over HTTP (a goka view)",
		Long: `Follows the table of each --group with a goka view and serves the HTTP API:
GET /v1/sensors, GET /v1/sensors/{id}, POST /v1/sensors/{id}/predict,
/v1/groups/{group}/sensors/... for each group, /healthz, /readyz (200 once
every view has caught up) and /metrics; the learning curves
GET /v1/sensors/{id}/history and /plot.svg (from GROUP-snapshots), the HTML
dashboard at / and goka's own monitor and query UI under /goka/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			if stateDir == "" {
				return flagErr("--state-dir is required: each view needs its own directory")
			}
			if len(groups) == 0 {
				return flagErr("--group: at least one group is needed")
			}
			truth, err := histf.truth()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := checkAuth(ctx, kc, g.log); err != nil {
				return err
			}
			eg, ctx := errgroup.WithContext(ctx)
			var views []*view.View
			var histories []*history.Follower
			for _, grp := range groups {
				v, err := view.New(view.Config{Group: grp, Kafka: kc, StateDir: stateDir, Log: g.log})
				if err != nil {
					return err
				}
				views = append(views, v)
				eg.Go(func() error { return v.Run(ctx) })
				h, err := history.NewFollower(history.FollowerConfig{Group: grp, Kafka: kc, Points: histf.points, Log: g.log})
				if err != nil {
					return err
				}
				histories = append(histories, h)
				eg.Go(func() error { return h.Run(ctx) })
			}
			reg := newRegistry()
			srv := &api.Server{Views: views, Registry: reg, Metrics: api.NewMetrics(reg, views...), Log: g.log,
				Histories: histories, Truth: truth}
			h, err := hf.wrap(httpAddr, srv.Handler(), g.log)
			if err != nil {
				return err
			}
			if err := serveHTTP(ctx, eg, httpAddr, h, g.log); err != nil {
				return err
			}
			return eg.Wait()
		},
	}
	kf.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&groups, "group", []string{"rls"}, "group whose table to serve; repeatable, the first is the default of /v1/sensors")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "directory of this view's local table copy (required; one per process)")
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "address of the HTTP API")
	hf.register(cmd.Flags())
	histf.register(cmd.Flags())
	return cmd
}

func newEmitCmd(g *globalFlags) *cobra.Command {
	var kf kafkaFlags
	var ef emitFlags
	var topic string
	var partitions int
	cmd := &cobra.Command{
		Use:   "emit",
		Short: "Publish synthetic samples y = xᵀθ* + noise",
		Long: `Publishes --count samples y = xᵀθ* + noise for --sensors sensors to --topic.
On a terminal (stderr) it shows a progress bar with count, rate and ETA;
otherwise it logs a progress line every 5 seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			ecfg, err := ef.config()
			if err != nil {
				return err
			}
			if err := checkAuth(cmd.Context(), kc, g.log); err != nil {
				return err
			}
			var sent atomic.Int64
			start := time.Now()
			bar := progress.New(ef.count, "emit", os.Stderr, progress.WithLogger(g.log), progress.WithUnit("samples"))
			stopBar := make(chan struct{})
			barDone := make(chan struct{})
			go func() {
				defer close(barDone)
				t := time.NewTicker(100 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stopBar:
						return
					case <-t.C:
						bar.Set(sent.Load())
					}
				}
			}()
			ecfg.Kafka, ecfg.Topic, ecfg.Partitions, ecfg.Log, ecfg.Sent = kc, topic, partitions, g.log, &sent
			n, err := emitter.Run(cmd.Context(), ecfg)
			close(stopBar)
			<-barDone
			bar.Set(n)
			bar.Finish()
			el := time.Since(start)
			g.log.Info("emitted", "samples", n, "seconds", el.Seconds(), "samples_per_s", float64(n)/el.Seconds())
			return err
		},
	}
	kf.register(cmd.Flags())
	ef.register(cmd.Flags(), 10000, 0)
	cmd.Flags().StringVar(&topic, "topic", "rls-samples", "topic to publish to")
	cmd.Flags().IntVar(&partitions, "partitions", 8, "partitions of the topic if it has to be created")
	return cmd
}

// serveMetrics serves /healthz and /metrics of reg on addr (nothing when
// addr is empty), behind the bearer token of hf.
func serveMetrics(ctx context.Context, eg interface{ Go(func() error) }, addr string, reg *prometheus.Registry, hf httpAuthFlags, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	h, err := hf.wrap(addr, mux, log)
	if err != nil {
		return err
	}
	return serveHTTP(ctx, eg, addr, h, log)
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveHTTP listens on addr now (so a bad address fails at once) and serves
// h until ctx ends.
func serveHTTP(ctx context.Context, eg interface{ Go(func() error) }, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return flagErr("--http %q: %v", addr, err)
	}
	srv := api.NewHTTPServer(h)
	log.Info("http listening", "addr", ln.Addr().String())
	eg.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	eg.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return nil
}
