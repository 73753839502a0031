package main

import (
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/pipeline"
	"github.com/streamrls/streamrls/topology"
)

// serveFlags are the flags of `serve`.
type serveFlags struct {
	kafka    kafkaFlags
	groups   []string
	stateDir string
	http     httpFlags
	history  historyFlags
	events   eventsFlags
	alerts   alertFlags
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	f.kafka.register(fs)
	fs.StringArrayVar(&f.groups, "group", []string{topology.DefaultGroup}, "group whose table to serve; repeatable, the first is the default of /v1/sensors")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory of this view's local table copy and of the learning curves (required; one per process)")
	f.http.register(fs, "127.0.0.1:8080", "address of the HTTP API")
	f.history.register(fs)
	f.events.register(fs)
	f.alerts.register(fs)
}

// config checks the flags; the HTTP listener is left to the caller.
func (f *serveFlags) config(g *globalFlags) (pipeline.ServeConfig, error) {
	kc, err := f.kafka.config()
	if err != nil {
		return pipeline.ServeConfig{}, err
	}
	if err := requireStateDir(f.stateDir, "view"); err != nil {
		return pipeline.ServeConfig{}, err
	}
	if err := checkGroups(f.groups); err != nil {
		return pipeline.ServeConfig{}, err
	}
	truth, err := f.history.truth()
	if err != nil {
		return pipeline.ServeConfig{}, err
	}
	maxBytes, err := parseHistoryMaxBytes(f.history.maxBytes)
	if err != nil {
		return pipeline.ServeConfig{}, err
	}
	events, err := f.events.config()
	if err != nil {
		return pipeline.ServeConfig{}, err
	}
	alerts, err := f.alerts.config()
	if err != nil {
		return pipeline.ServeConfig{}, err
	}
	return pipeline.ServeConfig{Kafka: kc, Groups: f.groups, StateDir: f.stateDir, HistoryPoints: f.history.points,
		HistoryMaxBytes: maxBytes, Truth: truth, Events: events, Alerts: alerts, Log: g.log}, nil
}

// checkGroups checks serve's --group: at least one, each a legal group
// name, none given twice (each group's view and curves are kept under a
// directory of its name).
func checkGroups(groups []string) error {
	if len(groups) == 0 {
		return flagErr("--group: at least one group is needed")
	}
	for i, g := range groups {
		if err := flagError(topology.ValidateGroup(g), "topology", namesFlagNames); err != nil {
			return err
		}
		if slices.Contains(groups[:i], g) {
			return flagErr("--group %q: given twice; want each group once", g)
		}
	}
	return nil
}

func newServeCmd(g *globalFlags) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the latest state of every sensor over HTTP (a goka view)",
		Long: `Follows the table of each --group with a goka view and serves the HTTP API:
GET /v1/sensors, GET /v1/sensors/{id}, POST /v1/sensors/{id}/predict,
/v1/groups/{group}/sensors/... for each group, /healthz, /readyz (200 once
every view has caught up and the curves are loaded) and /metrics; the
learning curves GET /v1/sensors/{id}/history and /plot.svg (from
GROUP-snapshots, kept under --state-dir and resumed from where they were),
the latest anomaly and drift events GET /v1/sensors/{id}/events (from
GROUP-events, kept in memory: --events-per-sensor), the HTML dashboard at /
and goka's own monitor and query UI under /goka/. Predictions carry their
standard deviation and interval at --interval-level. With --alertmanager or
--alert-webhook it posts each group's anomaly episodes and drifts as alerts
(docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(g)
			if err != nil {
				return err
			}
			if cfg.HTTP, err = f.http.listen(g.log); err != nil {
				return err
			}
			return pipeline.Serve(cmd.Context(), cfg)
		},
	}
	f.register(cmd.Flags())
	return cmd
}
