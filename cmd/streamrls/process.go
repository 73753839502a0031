package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/pipeline"
)

// processFlags are the flags of `process`.
type processFlags struct {
	kafka         kafkaFlags
	names         namesFlags
	proc          processorFlags
	snapshots     snapshotFlags
	http          httpFlags
	sensorMetrics int
}

func (f *processFlags) register(fs *pflag.FlagSet) {
	f.kafka.register(fs)
	f.names.register(fs)
	f.proc.register(fs)
	f.snapshots.register(fs)
	f.http.register(fs, "", "serve /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9100)")
	fs.IntVar(&f.sensorMetrics, "sensor-metrics", 0, "export per-sensor MSE gauges for at most this many sensors (the first ones updated); 0: off")
}

// config checks the flags; the HTTP listener is left to the caller.
func (f *processFlags) config(g *globalFlags) (pipeline.ProcessConfig, error) {
	kc, err := f.kafka.config()
	if err != nil {
		return pipeline.ProcessConfig{}, err
	}
	names, err := f.names.names()
	if err != nil {
		return pipeline.ProcessConfig{}, err
	}
	pcfg, err := f.proc.config()
	if err != nil {
		return pipeline.ProcessConfig{}, err
	}
	pcfg.Snapshots = f.snapshots.policy()
	if err := checkProcessor(pcfg); err != nil {
		return pipeline.ProcessConfig{}, err
	}
	if err := checkSensorMetrics(f.sensorMetrics); err != nil {
		return pipeline.ProcessConfig{}, err
	}
	pcfg.Names, pcfg.Kafka, pcfg.Partitions, pcfg.Log = names, kc, f.names.partitions, g.log
	return pipeline.ProcessConfig{Processor: pcfg, SensorMetrics: f.sensorMetrics}, nil
}

func newProcessCmd(g *globalFlags) *cobra.Command {
	var f processFlags
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
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			if cfg.HTTP, err = f.http.listen(g.log); err != nil {
				return err
			}
			return pipeline.Process(cmd.Context(), cfg)
		},
	}
	f.register(cmd.Flags())
	return cmd
}
