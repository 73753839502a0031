package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/plot"
)

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
			b, err := plot.CurvesBytes(*h, format)
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
