package main

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/export"
	"github.com/streamrls/streamrls/topology"
)

// exportFlags are the flags of `export`.
type exportFlags struct {
	kafka                        kafkaFlags
	group, format, out, stateDir string
	timeout                      time.Duration
}

func (f *exportFlags) register(fs *pflag.FlagSet) {
	f.kafka.register(fs)
	fs.StringVar(&f.group, "group", topology.DefaultGroup, "group whose table to export")
	fs.StringVar(&f.format, "format", string(export.NPY), "npy, npz, json or csv")
	fs.StringVar(&f.out, "out", "", "directory to write to (created if missing; its files are replaced once the export is complete)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the view's local table copy (default: a temporary one; a kept one makes the next export faster)")
	fs.DurationVar(&f.timeout, "timeout", export.DefaultTimeout, "give up if the view has not caught up with the table by then")
}

func (f *exportFlags) config(g *globalFlags) (export.Config, error) {
	kc, err := f.kafka.config()
	if err != nil {
		return export.Config{}, err
	}
	format, err := export.ParseFormat(f.format)
	if err != nil {
		return export.Config{}, flagErr("--format: %v", err)
	}
	switch {
	case f.out == "":
		return export.Config{}, flagErr("--out is required: the directory to write to")
	case f.timeout <= 0:
		return export.Config{}, flagErr("--timeout %v: want > 0", f.timeout)
	}
	if err := flagError(topology.ValidateGroup(f.group), "topology", namesFlagNames); err != nil {
		return export.Config{}, err
	}
	return export.Config{Kafka: kc, Group: f.group, Format: format, Out: f.out, StateDir: f.stateDir, Timeout: f.timeout, Log: g.log}, nil
}

func newExportCmd(g *globalFlags) *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every sensor's θ per model of a group to .npy, .npz, JSON or CSV files",
		Long: `Reads the table of --group with a goka view, waits until it has caught up,
and writes every sensor's models to --out:

  npy   OUT/<sensor>/<model>.npy   θ as a 1-D float64 array (numpy.load)
  npz   OUT/theta.npz              per model an S × n float64 array, one row per
                                   sensor, and the IDs in "sensors" (numpy.load;
                                   sensors of several dimensions: mod1_n3,
                                   sensors_n3, … per dimension)
  json  OUT/sensors.json           an array of GET /v1/sensors/{id} objects
  csv   OUT/theta.csv              sensor,model,lambda,delta,samples,mse,sigma2,
                                   anomalies,drifts,theta_1..theta_n

Sensor IDs and model names become path elements with every byte other than
ASCII letters, digits, '-', '_' and a '.' not in first place written as %XX
(Python: urllib.parse.unquote gives the ID back). Values are written so that
they read back to the same float64 bits the HTTP API serves.

The export streams: one ordered pass over the table, memory independent of
the number of sensors. It is written to a temporary directory next to --out
and moved into --out only when complete, so a failed or interrupted export
leaves --out as it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			return export.Run(cmd.Context(), cfg)
		},
	}
	f.register(cmd.Flags())
	return cmd
}
