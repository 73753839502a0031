package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/bench"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
)

func newBenchCmd(g *globalFlags) *cobra.Command {
	var mf modelFlags
	var cfg bench.Config
	var brokers, dir, format string
	var asJSON, keep, memBroker bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency against a trivial goka processor on the same broker",
		Long: `Runs, one after another on fresh topics and groups of one broker (an embedded
one unless --brokers is given):

  (a) --messages single-sample messages through the real processor, topic to
      written state, at --batch-interval and (a0) at --batch-interval 0
  (b) --batch-samples samples in binary micro-batches of --batch, topic to view
  (c) a trivial goka counter processor on the input of (a), same Kafka
      configuration, goka's own LevelDB storage: the baseline of this run
  (c') the same counter on streamrls's buffered local storage
  (d) p50/p99 latency from emit to the update seen by a view, at --rate

Input topics are filled before a processor starts; (a), (b) and (d) run the
processor at --batch-interval. Prints a table, or JSON with --json. --phases
picks phases; not run by default: r times the recovery of a table of
--recovery-sensors sensors by a processor and a view; v starts broker,
serve and process as separate processes, as a user would, on
--serve-messages single-sample JSON messages already in the topic, and
measures the rate seen at serve's HTTP API with --batch-interval 0 and at
--batch-interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			specs, err := mf.parse()
			if err != nil {
				return err
			}
			cfg.Specs = specs
			if cfg.Format, err = codec.ParseFormat(format); err != nil {
				return flagErr("--format: %v", err)
			}
			if cfg.Partitions < 1 {
				return flagErr("--partitions %d: want ≥ 1", cfg.Partitions)
			}
			if cfg.Sensors < 1 {
				return flagErr("--sensors %d: want ≥ 1", cfg.Sensors)
			}
			if cfg.Rounds < 1 {
				return flagErr("--rounds %d: want ≥ 1", cfg.Rounds)
			}
			if cfg.Messages < 1 || cfg.BatchSamples < 1 || cfg.Batch < 1 || cfg.RecoverySensors < 1 {
				return flagErr("--messages, --batch, --batch-samples and --recovery-sensors want ≥ 1")
			}
			if cfg.Rate <= 0 || cfg.LatencyDuration <= 0 {
				return flagErr("--rate and --latency-duration want > 0")
			}
			if cfg.ServeMessages < 1 {
				return flagErr("--serve-messages %d: want ≥ 1", cfg.ServeMessages)
			}
			if cfg.BatchInterval < 0 {
				return flagErr("--batch-interval %v: want ≥ 0 (0: a state write per message)", cfg.BatchInterval)
			}
			if cfg.BatchInterval == 0 {
				cfg.BatchInterval = processor.NoBatches
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Binary = exe
			if cfg.Processes > 0 {
				cfg.ProcessorCommand = []string{exe, "process"}
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "streamrls-bench-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dir)
				}
			}
			cfg.Dir = filepath.Join(dir, "state")
			if brokers == "" {
				bdir := filepath.Join(dir, "broker")
				if memBroker {
					bdir = ""
				}
				b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", DataDir: bdir, Logger: g.log})
				if err != nil {
					return err
				}
				defer b.Close()
				cfg.Kafka = kafkaconf.Kafka{Brokers: []string{b.Addr()}}
				cfg.Embedded = true
			} else {
				bs, err := kafkaconf.ParseBrokers(brokers)
				if err != nil {
					return flagErr("--brokers: %v", err)
				}
				cfg.Kafka = kafkaconf.Kafka{Brokers: bs}
			}
			cfg.Log = g.log
			if err := (&cfg).Validate(); err != nil {
				return usageError{err}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return flagErr("--cpuprofile: %v", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := bench.Run(cmd.Context(), cfg)
			if rep != nil {
				if asJSON {
					enc := json.NewEncoder(os.Stdout)
					enc.SetIndent("", "  ")
					if e := enc.Encode(rep); e != nil && err == nil {
						err = e
					}
				} else if e := rep.WriteTable(os.Stdout); e != nil && err == nil {
					err = e
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	mf.register(f)
	f.StringVar(&brokers, "brokers", "", "Kafka brokers to use, comma-separated host:port (default: an embedded broker)")
	f.StringVar(&dir, "dir", "", "directory for the embedded broker's log and the local state (default: a temporary one, removed at the end)")
	f.BoolVar(&memBroker, "broker-memory", false, "keep the embedded broker's log in memory only (default: on disk in --dir, as `run` does)")
	f.BoolVar(&keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cfg.Phases, "phases", "abcd", "phases to run: a single-sample (and a0 without batches), b micro-batch, c goka counter, d latency, r recovery, v broker, process and serve as processes")
	f.DurationVar(&cfg.BatchInterval, "batch-interval", processor.DefaultBatchInterval, "the processor's --batch-interval in (a), (b), (d) and (v); 0: a state write per message")
	f.Int64Var(&cfg.ServeMessages, "serve-messages", 300000, "single-sample JSON messages of (v)")
	f.IntVar(&cfg.Partitions, "partitions", 8, "partitions of every input topic")
	f.IntVar(&cfg.Sensors, "sensors", 64, "sensors (keys)")
	f.IntVar(&cfg.Dim, "dim", 10, "features per sample")
	f.StringVar(&format, "format", "binary", "wire format of the single-sample messages of (a), (c) and (d): json, text or binary")
	f.Int64Var(&cfg.Messages, "messages", 300000, "single-sample messages of (a) and (c)")
	f.IntVar(&cfg.Rounds, "rounds", 3, "run (c) and (a) alternately this many times and report the median")
	f.StringVar(&cfg.CounterStorage, "counter-storage", "both", "local storage of the goka counter: goka (goka's default LevelDB storage: (c)), streamrls (the processor's: (c')) or both")
	f.IntVar(&cfg.Batch, "batch", 256, "samples per micro-batch in (b)")
	f.Int64Var(&cfg.BatchSamples, "batch-samples", 1<<21, "samples of (b)")
	f.Float64Var(&cfg.Rate, "rate", 10000, "steady rate of (d), samples/s")
	f.DurationVar(&cfg.LatencyDuration, "latency-duration", 6*time.Second, "how long (d) emits")
	f.DurationVar(&cfg.Warmup, "warmup", time.Second, "the first part of (d) that is not counted")
	f.IntVar(&cfg.RecoverySensors, "recovery-sensors", 100000, "sensors in the table of the recovery phase r")
	f.IntVar(&cfg.Processes, "processes", 0, "run (a) and (b) in this many separate `streamrls process` processes, measured at the view (0: in this process)")
	f.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "give up a phase after this long")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (broker included when embedded) to this file")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed of the samples")
	return cmd
}
