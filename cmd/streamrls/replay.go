package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/pipeline"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// replayFlags are the flags of `replay`.
type replayFlags struct {
	kafka                    kafkaFlags
	proc                     processorFlags
	http                     httpFlags
	topic, group, deadletter string
	follow                   bool
	every                    time.Duration
}

func (f *replayFlags) register(fs *pflag.FlagSet) {
	f.kafka.register(fs)
	f.proc.register(fs)
	f.http.register(fs, "", "serve /healthz and Prometheus /metrics on this address while replaying (e.g. 127.0.0.1:9100)")
	fs.StringVar(&f.topic, "topic", topology.DefaultInput, "input topic to replay")
	fs.StringVar(&f.group, "group", "", "the new group to build (required; its table is GROUP-table)")
	fs.StringVar(&f.deadletter, "deadletter", "", "dead-letter topic of the new group (default GROUP-deadletter)")
	fs.BoolVar(&f.follow, "follow", false, "keep running as a live group after catching up")
	fs.DurationVar(&f.every, "progress", pipeline.DefaultReplayProgress, "how often to log progress when stderr is not a terminal")
}

// config checks the flags; the HTTP listener is left to the caller.
func (f *replayFlags) config(g *globalFlags) (pipeline.ReplayConfig, error) {
	kc, err := f.kafka.config()
	if err != nil {
		return pipeline.ReplayConfig{}, err
	}
	if f.group == "" {
		return pipeline.ReplayConfig{}, flagErr("--group is required: the new group to build (e.g. rls-v2)")
	}
	names, err := validNames(topology.Names{Input: f.topic, Group: f.group, DeadLetter: f.deadletter})
	if err != nil {
		return pipeline.ReplayConfig{}, err
	}
	pcfg, err := f.proc.config()
	if err != nil {
		return pipeline.ReplayConfig{}, err
	}
	if err := checkProgress(f.every); err != nil {
		return pipeline.ReplayConfig{}, err
	}
	pcfg.Names, pcfg.Kafka, pcfg.Log = names, kc, g.log
	return pipeline.ReplayConfig{Replay: processor.ReplayConfig{Config: pcfg, Follow: f.follow}, Progress: f.every}, nil
}

func newReplayCmd(g *globalFlags) *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay --group NEW --model NAME:LAMBDA:DELTA … --state-dir DIR",
		Short: "Rebuild models with other settings from the whole input topic into a new group",
		Long: `Runs a processor of the new group --group over the input topic from its
oldest offset, so that the new group's table holds models built with the
--model settings from every sample still on the topic: what its retention
kept (run's --retention, --retention-bytes; the log's first line counts the
messages already deleted). The groups already
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
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			if cfg.HTTP, err = f.http.listen(g.log); err != nil {
				return err
			}
			err = pipeline.Replay(cmd.Context(), cfg)
			var inUse *processor.GroupInUseError
			if errors.As(err, &inUse) {
				return usageError{fmt.Errorf("--group %q: %w", inUse.Group, err)}
			}
			return err
		},
	}
	f.register(cmd.Flags())
	return cmd
}
