// Command streamrls learns one online linear model per sensor from a Kafka
// stream. One binary plays every role of the pipeline; `streamrls run` plays
// all of them at once on an embedded broker.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "streamrls:", withFlagHints(err))
		stop()
		os.Exit(exitCode(err))
	}
}

// usageError marks an error in the command line (exit 2).
type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func flagErr(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "streamrls",
		Short: "Online per-sensor recursive least squares on Kafka",
		Long: `streamrls learns a bank of recursive-least-squares models per sensor from a
Kafka topic of samples (key = sensor ID), keeps each sensor's state in a
compacted goka group table and serves it over HTTP.

Every flag can also be set from the environment: --brokers is
STREAMRLS_BROKERS, --state-dir is STREAMRLS_STATE_DIR, and so on (upper case,
dashes as underscores). A flag on the command line wins.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			if err := refuseEmpty(cmd.Flags(), "group", "topic"); err != nil {
				return err
			}
			if err := refuseNonFinite(cmd.Flags()); err != nil {
				return err
			}
			return g.setup()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	g.register(root.PersistentFlags())
	root.AddCommand(
		newRunCmd(g),
		newBrokerCmd(g),
		newProcessCmd(g),
		newServeCmd(g),
		newEmitCmd(g),
		newExportCmd(g),
		newReplayCmd(g),
		newPlotCmd(g),
		newBenchCmd(g),
		newGendocsCmd(),
	)
	return root
}

// applyEnv sets every flag not given on the command line from STREAMRLS_<NAME>.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "STREAMRLS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			if e := sv.Replace(strings.Split(v, ",")); e != nil {
				err = flagErr("%s=%q (for --%s): %v", name, v, f.Name, e)
			}
			f.Changed = true
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = flagErr("%s=%q (for --%s): %v", name, v, f.Name, e)
		}
		f.Changed = true
	})
	return err
}

// refuseEmpty refuses each of the named string flags given as "": its
// default would otherwise stand in silently for what was asked.
func refuseEmpty(fs *pflag.FlagSet, names ...string) error {
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil || !f.Changed || f.Value.Type() != "string" || f.Value.String() != "" {
			continue
		}
		if f.DefValue == "" {
			return flagErr("--%s \"\": want a name", name)
		}
		return flagErr("--%s \"\": want a name (leave the flag out for its default %q)", name, f.DefValue)
	}
	return nil
}

// refuseNonFinite refuses a number flag given as NaN or ±Inf: pflag
// parses them, and no setting of streamrls means any of them.
func refuseNonFinite(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err != nil || f.Value.Type() != "float64" {
			return
		}
		if v, e := strconv.ParseFloat(f.Value.String(), 64); e == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = flagErr("--%s %s: want a finite number", f.Name, f.Value.String())
		}
	})
	return err
}

type globalFlags struct {
	logLevel  string
	logFormat string
	log       *slog.Logger
}

func (g *globalFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
}

func (g *globalFlags) setup() error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return flagErr("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch g.logFormat {
	case "text":
		g.log = slog.New(slog.NewTextHandler(os.Stderr, opts))
	case "json":
		g.log = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	default:
		return flagErr("--log-format %q: want text or json", g.logFormat)
	}
	return nil
}
