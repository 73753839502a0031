package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/streamrls/streamrls/export"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

func newExportCmd(g *globalFlags) *cobra.Command {
	var kf kafkaFlags
	var group, format, out, stateDir string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every sensor's θ per model of a group to .npy, JSON or CSV files",
		Long: `Reads the table of --group with a goka view, waits until it has caught up,
and writes every sensor's models to --out:

  npy   OUT/<sensor>/<model>.npy   θ as a 1-D float64 array (numpy.load)
  json  OUT/sensors.json           an array of GET /v1/sensors/{id} objects
  csv   OUT/theta.csv              sensor,model,lambda,delta,samples,mse,theta_0..theta_{n-1}

Sensor IDs and model names become path elements with every byte other than
ASCII letters, digits, '-', '_' and a '.' not in first place written as %XX
(Python: urllib.parse.unquote gives the ID back). Values are written so that
they read back to the same float64 bits the HTTP API serves.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			f, err := export.ParseFormat(format)
			if err != nil {
				return flagErr("--format: %v", err)
			}
			if out == "" {
				return flagErr("--out is required: the directory to write to")
			}
			if group == "" {
				return flagErr("--group: empty")
			}
			if timeout <= 0 {
				return flagErr("--timeout %v: want > 0", timeout)
			}
			if err := checkAuth(cmd.Context(), kc, g.log); err != nil {
				return err
			}
			// A mistyped group would otherwise wait for its table until --timeout.
			table := topology.Names{Group: group}.Table()
			tm, err := kc.TopicManager()
			if err != nil {
				return err
			}
			ps, err := tm.Partitions(table)
			tm.Close()
			if err != nil || len(ps) == 0 {
				return fmt.Errorf("group %q has no table: topic %s not found on %s (%v)", group, table, strings.Join(kc.Brokers, ","), err)
			}
			dir := stateDir
			if dir == "" {
				tmp, err := os.MkdirTemp("", "streamrls-export-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			v, err := view.New(view.Config{Group: group, Kafka: kc, StateDir: dir, Log: g.log})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			runErr := make(chan error, 1)
			go func() { runErr <- v.Run(ctx) }()
			defer func() { cancel(); <-runErr }()
			wctx, wcancel := context.WithTimeout(ctx, timeout)
			defer wcancel()
			sensors, err := export.Collect(wctx, v)
			if err != nil {
				return err
			}
			files, err := export.Write(out, f, sensors)
			if err != nil {
				return err
			}
			g.log.Info("exported", "group", group, "sensors", len(sensors), "format", string(f), "files", len(files), "out", out)
			return nil
		},
	}
	kf.register(cmd.Flags())
	cmd.Flags().StringVar(&group, "group", "rls", "group whose table to export")
	cmd.Flags().StringVar(&format, "format", "npy", "npy, json or csv")
	cmd.Flags().StringVar(&out, "out", "", "directory to write to (created if missing; files in it are overwritten)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "directory for the view's local copy of the table (default: a temporary one, removed after; a kept one makes the next export faster)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up if the view has not caught up with the table by then")
	return cmd
}
