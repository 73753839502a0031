package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/processor"
)

// snapshotFlags say when a processor publishes snapshots (process, run).
type snapshotFlags struct {
	every    uint64
	interval time.Duration
}

func (s *snapshotFlags) register(fs *pflag.FlagSet) {
	fs.Uint64Var(&s.every, "snapshot-every", 100, "publish a sensor's models to GROUP-snapshots each time its sample count crosses a multiple of this (0: not by count)")
	fs.DurationVar(&s.interval, "snapshot-interval", 10*time.Second, "… or when this long has passed since its last snapshot and it was updated since (0: not by time); both 0: no snapshots")
}

func (s *snapshotFlags) policy() (processor.Snapshots, error) {
	if s.interval < 0 {
		return processor.Snapshots{}, flagErr("--snapshot-interval %v: want ≥ 0 (0: not by time)", s.interval)
	}
	return processor.Snapshots{Every: s.every, Interval: s.interval}, nil
}

// historyFlags are the view's history settings (serve).
type historyFlags struct {
	points    int
	thetaStar string
}

func (h *historyFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&h.points, "history-points", history.DefaultPoints, "snapshots kept per sensor for the curves; when full, every second one is dropped")
	fs.StringVar(&h.thetaStar, "theta-star", "", "the true coefficients θ*, comma-separated (e.g. 1,0,0,0,0,0,0,0,0,1): plots and the dashboard compare every sensor of that dimension with it")
}

func (h *historyFlags) truth() (history.Truth, error) {
	if err := checkHistoryPoints(h.points); err != nil {
		return nil, err
	}
	if h.thetaStar == "" {
		return nil, nil
	}
	th, err := parseVector(h.thetaStar)
	if err != nil {
		return nil, flagErr("--theta-star %q: %v", h.thetaStar, err)
	}
	return history.ConstTruth(th), nil
}

func parseVector(s string) ([]float64, error) {
	var out []float64
	for i, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d %q is not a finite number", i+1, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func (e *emitFlags) parseDrift() (emitter.Drift, error) {
	d, err := emitter.ParseDrift(e.drift)
	if err != nil {
		return d, flagErr("--drift: %v", err)
	}
	return d, nil
}

const driftHelp = `how θ* moves, per sensor: none; jump:N (θ* becomes −θ* after N samples); wander:SIGMA[:N] (after N samples, default 0, θ* takes a Gaussian random-walk step of standard deviation SIGMA per coefficient per sample)`

func newPlotCmd(g *globalFlags) *cobra.Command {
	var baseURL, group, sensor, out string
	cmd := &cobra.Command{
		Use:   "plot",
		Short: "Write a sensor's learning curves as a PNG or SVG file",
		Long: `Fetches GET /v1/sensors/{id}/history from a running ` + "`streamrls serve`" + ` (or
` + "`run --http`" + `) and draws the same figure as its plot.svg: each model's
coefficients against samples, with θ* dashed when the server knows it, and
each model's MSE on a log scale. The format follows the file's extension
(.png or .svg).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sensor == "" {
				return flagErr("--sensor is required")
			}
			if out == "" {
				return flagErr("--out is required (FILE.png or FILE.svg)")
			}
			format := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
			if format != "png" && format != "svg" {
				return flagErr("--out %q: want a .png or .svg file", out)
			}
			c := &client.Client{BaseURL: baseURL, Group: group}
			h, err := c.History(cmd.Context(), sensor)
			if err != nil {
				return err
			}
			b, err := api.PlotBytes(*h, format)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			g.log.Info("plot written", "file", out, "sensor", sensor, "points", len(h.Samples), "bytes", len(b))
			return nil
		},
	}
	cmd.Flags().StringVar(&baseURL, "url", "http://127.0.0.1:8080", "base URL of a streamrls serve (or run --http)")
	cmd.Flags().StringVar(&group, "group", "", "group to ask (default: the server's first)")
	cmd.Flags().StringVar(&sensor, "sensor", "", "sensor ID (required)")
	cmd.Flags().StringVar(&out, "out", "", "file to write: FILE.png or FILE.svg (required)")
	return cmd
}
