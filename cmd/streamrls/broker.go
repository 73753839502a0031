package main

import (
	"github.com/spf13/cobra"

	"github.com/streamrls/streamrls/broker"
)

func newBrokerCmd(g *globalFlags) *cobra.Command {
	var cfg broker.Config
	var sf securityFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker (kfake) on a data directory",
		Long: `Runs a one-node Kafka-protocol broker that keeps its log in --data-dir, so
that any Kafka client (goka, kafka-python, kcat) can use it and a restart
keeps every topic. Stops cleanly on SIGINT/SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := sf.server()
			if err != nil {
				return err
			}
			cfg.Options, cfg.Logger = opts, g.log
			return broker.Serve(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.Listen, "listen", broker.DefaultListen, "host:port to accept Kafka clients on")
	cmd.Flags().StringVar(&cfg.DataDir, "data-dir", "streamrls-broker", "directory that keeps the broker's topics across restarts")
	cmd.Flags().BoolVar(&cfg.SyncWrites, "sync-writes", false, "fsync every produced batch (survives power loss, slower)")
	sf.register(cmd.Flags(), true)
	return cmd
}
