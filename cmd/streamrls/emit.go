package main

import (
	"github.com/spf13/cobra"

	"github.com/streamrls/streamrls/pipeline"
	"github.com/streamrls/streamrls/topology"
)

func newEmitCmd(g *globalFlags) *cobra.Command {
	var kf kafkaFlags
	var ef emitFlags
	var topic string
	var partitions int
	cmd := &cobra.Command{
		Use:   "emit",
		Short: "Publish synthetic samples y = xᵀθ* + noise",
		Long: `Publishes --count samples y = xᵀθ* + noise for --sensors sensors to --topic.
On a terminal (stderr) it shows a progress bar with count, rate and ETA;
otherwise it logs a progress line every 5 seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := kf.config()
			if err != nil {
				return err
			}
			ecfg, err := ef.config()
			if err != nil {
				return err
			}
			if err := flagError(topology.ValidateTopic("Input", topic), "topology", namesFlagNames); err != nil {
				return err
			}
			ecfg.Kafka, ecfg.Topic, ecfg.Partitions, ecfg.Log = kc, topic, partitions, g.log
			return pipeline.Emit(cmd.Context(), ecfg, nil)
		},
	}
	kf.register(cmd.Flags())
	ef.register(cmd.Flags(), 10000, 0)
	cmd.Flags().StringVar(&topic, "topic", topology.DefaultInput, "topic to publish to")
	cmd.Flags().IntVar(&partitions, "partitions", topology.DefaultPartitions, "partitions of the topic if it has to be created")
	return cmd
}
