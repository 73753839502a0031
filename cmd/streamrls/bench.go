package main

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/bench"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
)

// benchFlags are the flags of `streamrls bench`; internal/bench runs it.
type benchFlags struct {
	models  modelFlags
	batch   batchFlags
	cmd     bench.Command
	brokers string
	format  string
}

func (b *benchFlags) register(f *pflag.FlagSet) {
	b.models.register(f)
	f.StringVar(&b.brokers, "brokers", "", "Kafka brokers to use, comma-separated host:port (default: an embedded broker)")
	f.StringVar(&b.cmd.Dir, "dir", "", "directory for the embedded broker's log and the local state (default: a temporary one, removed at the end)")
	f.BoolVar(&b.cmd.MemoryBroker, "broker-memory", false, "keep the embedded broker's log in memory only (default: on disk in --dir, as streamrls run does)")
	f.BoolVar(&b.cmd.Keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&b.cmd.JSON, "json", false, "print the report as JSON")
	f.StringVar(&b.cmd.Phases, "phases", "abcd", "phases to run, names or letters, comma-separated: single,batch,counter,latency,scale,recovery,serve,processes")
	// The processor's own batch flags, read as process reads them; only
	// what they say of the phases differs.
	b.batch.register(f)
	for name, usage := range map[string]string{
		"batch-interval":     "the processor's --batch-interval in (a), (b), (d) and (v); 0: a state write per message",
		"batch-max-interval": "the processor's --batch-max-interval in every phase: how long a batch may grow while the processor catches up; 0: off",
		"batch-density":      "the processor's --batch-density in every phase: the samples per updated sensor a growing batch waits for; 1: off",
		"batch-max-bytes":    "the processor's --batch-max-bytes in every phase (e.g. 64MiB, 1GiB)",
	} {
		f.Lookup(name).Usage = usage
	}
	f.Int64Var(&b.cmd.ServeMessages, "serve-messages", 300000, "single-sample JSON messages of (v)")
	f.IntVar(&b.cmd.Partitions, "partitions", 8, "partitions of every input topic")
	f.IntVar(&b.cmd.Sensors, "sensors", 64, "sensors (keys)")
	f.IntVar(&b.cmd.Dim, "dim", 10, "features per sample")
	f.StringVar(&b.format, "format", "binary", "wire format of the single-sample messages of (a), (c) and (d): json, text or binary")
	f.Int64Var(&b.cmd.Messages, "messages", 300000, "single-sample messages of (a), (c) and each input of (p)")
	f.IntVar(&b.cmd.Rounds, "rounds", 3, "run (c) and (a), and (p)'s two sensor counts, alternately this many times and report the median")
	f.StringVar(&b.cmd.CounterStorage, "counter-storage", "both", "local storage of the goka counter: goka (goka's default LevelDB storage: (c)), streamrls (the processor's: (c')) or both")
	f.IntVar(&b.cmd.Batch, "batch", 256, "samples per micro-batch in (b)")
	f.Int64Var(&b.cmd.BatchSamples, "batch-samples", 1<<21, "samples of (b)")
	f.Float64Var(&b.cmd.Rate, "rate", 10000, "steady rate of (d), samples/s")
	f.DurationVar(&b.cmd.LatencyDuration, "latency-duration", 6*time.Second, "how long (d) emits")
	f.DurationVar(&b.cmd.Warmup, "warmup", time.Second, "the first part of (d) that is not counted")
	f.IntVar(&b.cmd.ScaleSamples, "scale-samples", 20, "single-sample messages per sensor that fill the table of (s)")
	f.StringVar(&b.cmd.ScaleOrder, "scale-order", bench.ScaleOrderRoundRobin, "order of the samples of (s) and (p): round-robin (one of each sensor in turn, as emit) or sensor (docs/operations.md)")
	f.IntVar(&b.cmd.RecoverySensors, "recovery-sensors", 100000, "sensors in the table of the recovery phase r")
	f.IntVar(&b.cmd.Processes, "processes", 0, "run (a) and (b) in this many separate processor processes, measured at the view; 0: in this process")
	f.DurationVar(&b.cmd.Timeout, "timeout", 5*time.Minute, "give up a phase after this long")
	f.StringVar(&b.cmd.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file; each processor run's samples carry the label group=GROUP")
	f.Uint64Var(&b.cmd.Seed, "seed", 1, "random seed of the samples")
}

// command is the bench to run, after the flags' own checks (the ranges are
// bench.Config's to check).
func (b *benchFlags) command(log *slog.Logger) (bench.Command, error) {
	c := b.cmd
	var err error
	if c.Specs, err = b.models.parse(); err != nil {
		return c, err
	}
	if c.Format, err = codec.ParseFormat(b.format); err != nil {
		return c, flagErr("--format: %v", err)
	}
	var pc processor.Config
	if err := b.batch.apply(&pc); err != nil {
		return c, err
	}
	if err := checkProcessor(pc); err != nil {
		return c, err
	}
	c.BatchInterval, c.BatchMaxInterval, c.BatchDensity, c.BatchMaxBytes = pc.BatchInterval, pc.BatchMaxInterval, pc.BatchDensity, pc.BatchMaxBytes
	if pc.NoBatches {
		c.BatchInterval = bench.NoBatches
	}
	if pc.NoBatchGrowth {
		c.BatchMaxInterval = bench.NoBatchGrowth
	}
	if b.brokers != "" {
		if c.Brokers, err = kafkaconf.ParseBrokers(b.brokers); err != nil {
			return c, flagErr("--brokers: %v", err)
		}
	}
	c.Log = log
	return c, nil
}

func newBenchCmd(g *globalFlags) *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency against a trivial goka processor on the same broker",
		Long: `Runs, one after another on fresh topics and groups of one broker (an embedded
one unless --brokers is given):

  (a) --messages single-sample messages through the real processor, topic to
      written state, at --batch-interval; (a-notx) the same without Kafka
      transactions, in this process; (a0) at --batch-interval 0
  (b) --batch-samples samples in binary micro-batches of --batch, topic to view
  (c) a trivial goka counter processor on the input of (a), same Kafka
      configuration, goka's own LevelDB storage: the baseline of this run
  (c') the same counter on streamrls's buffered local storage
  (d) p50/p99 latency from emit to the update seen by a view, at --rate

Input topics are filled before a processor starts; (a), (b) and (d) run the
processor at --batch-interval. Prints a table, or JSON with --json. --phases
picks phases by name (single, batch, counter, latency, scale, recovery, serve,
processes; comma-separated) or letter (abcd, the default); not run by default:
scale (p) compares the processing rate at --sensors sensors with that at 64
sensors, --messages each; recovery (r) times the recovery of a table of
--recovery-sensors sensors by a processor and a view; serve (s) times serve's
HTTP API over a table of --sensors sensors; processes (v) starts broker, serve
and process as separate processes, as a user would, on --serve-messages
single-sample JSON messages already in the topic, and measures the rate seen
at serve's HTTP API with --batch-interval 0 and at --batch-interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := bf.command(g.log)
			if err != nil {
				return err
			}
			err = bench.RunCommand(cmd.Context(), c, os.Stdout)
			if ce := (*bench.ConfigError)(nil); errors.As(err, &ce) {
				return usageError{ce}
			}
			return err
		},
	}
	bf.register(cmd.Flags())
	return cmd
}
