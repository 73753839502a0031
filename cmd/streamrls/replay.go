package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/streamrls/streamrls/internal/progress"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

func newReplayCmd(g *globalFlags) *cobra.Command {
	var kf kafkaFlags
	var mf modelFlags
	var hf httpAuthFlags
	var bf batchFlags
	var topic, group, deadletter, stateDir, httpAddr string
	var follow bool
	var maxDim int
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "replay --group NEW --model NAME:LAMBDA:DELTA … --state-dir DIR",
		Short: "Rebuild models with other settings from the whole input topic into a new group",
		Long: `Runs a processor of the new group --group over the input topic from its
oldest offset, so that the new group's table holds models built with the
--model settings from every sample still on the topic. The groups already
on the topic are untouched: each group has its own offsets, table
(GROUP-table) and dead letters.

Without --follow it stops once the group has committed every message that
was on the topic when it started, and prints a summary (samples, sensors,
seconds, samples/s). With --follow it keeps running as a live group. A
progress bar with rate and ETA is drawn when stderr is a terminal, log
lines every --progress otherwise. A group that already has committed
offsets continues from them. Serve the result with
"streamrls serve --group OLD --group NEW".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			if group == "" {
				return flagErr("--group is required: the new group to build (e.g. rls-v2)")
			}
			names := topology.Names{Input: topic, Group: group, DeadLetter: deadletter}.WithDefaults()
			if err := names.Validate(); err != nil {
				return usageError{err}
			}
			specs, err := mf.parse()
			if err != nil {
				return err
			}
			if stateDir == "" {
				return flagErr("--state-dir is required: each processor needs its own directory")
			}
			if maxDim < 1 {
				return flagErr("--max-dim %d: want ≥ 1", maxDim)
			}
			if every <= 0 {
				return flagErr("--progress %v: want > 0", every)
			}
			reg := newRegistry()
			metrics := processor.NewMetrics(reg)
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			eg, ctx := errgroup.WithContext(ctx)
			if err := serveMetrics(ctx, eg, httpAddr, reg, hf, g.log); err != nil {
				return err
			}
			pcfg := processor.Config{
				Names: names, Kafka: kc, Model: processor.RLS{Specs: specs}, StateDir: stateDir,
				MaxDim: maxDim, Metrics: metrics, Log: g.log,
			}
			if err := bf.apply(&pcfg); err != nil {
				return err
			}
			show := newReplayProgress(names.Group, every, g)
			var sum processor.ReplaySummary
			eg.Go(func() error {
				defer cancel() // the HTTP server stops with the replay
				var err error
				sum, err = processor.Replay(ctx, processor.ReplayConfig{
					Config:   pcfg,
					Follow:   follow,
					Progress: show.update,
					CaughtUp: func(s processor.ReplaySummary) {
						show.finish()
						report(s, g, "caught up; following")
					},
				})
				show.finish()
				if err != nil {
					return err
				}
				if !follow {
					report(sum, g, "replay done")
				}
				return nil
			})
			return eg.Wait()
		},
	}
	kf.register(cmd.Flags())
	mf.register(cmd.Flags())
	bf.register(cmd.Flags())
	hf.register(cmd.Flags())
	cmd.Flags().StringVar(&topic, "topic", topology.DefaultInput, "input topic to replay")
	cmd.Flags().StringVar(&group, "group", "", "the new group to build (required; its table is GROUP-table)")
	cmd.Flags().StringVar(&deadletter, "deadletter", "", "dead-letter topic of the new group (default GROUP-deadletter)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "directory of this processor's local table copy (required; one per process)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep running as a live group after catching up")
	cmd.Flags().IntVar(&maxDim, "max-dim", processor.DefaultMaxDim, "largest dimension a sensor may have; larger samples are dead-lettered")
	cmd.Flags().DurationVar(&every, "progress", 2*time.Second, "how often to log progress when stderr is not a terminal")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve /healthz and Prometheus /metrics on this address while replaying (e.g. 127.0.0.1:9100)")
	return cmd
}

// report prints the summary on stdout and logs it.
func report(s processor.ReplaySummary, g *globalFlags, msg string) {
	fmt.Fprintf(os.Stdout, "%s: topic=%s group=%s samples=%d sensors=%d rejected=%d messages=%d seconds=%.3f samples_per_s=%.0f\n",
		msg, s.Topic, s.Group, s.Samples, s.Sensors, s.Rejected, s.Messages, s.Elapsed.Seconds(), s.Rate())
	g.log.Info(msg, "topic", s.Topic, "group", s.Group, "samples", s.Samples, "sensors", s.Sensors, "rejected", s.Rejected,
		"messages", s.Messages, "seconds", s.Elapsed.Seconds(), "samples_per_s", s.Rate())
}

// replayProgress shows the replay's progress with internal/progress (a bar
// on a terminal, a log line every --progress otherwise), from the first
// report on, when the number of messages to replay is known.
type replayProgress struct {
	group string
	every time.Duration
	g     *globalFlags
	bar   *progress.Bar
	done  bool
}

func newReplayProgress(group string, every time.Duration, g *globalFlags) *replayProgress {
	return &replayProgress{group: group, every: every, g: g}
}

func (r *replayProgress) update(p processor.ReplayProgress) {
	if r.done {
		return
	}
	if r.bar == nil {
		r.bar = progress.New(p.Total, "replay "+r.group, os.Stderr,
			progress.WithLogger(r.g.log), progress.WithInterval(r.every), progress.WithUnit("messages"))
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
