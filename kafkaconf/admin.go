package kafkaconf

import (
	"fmt"
	"strings"

	"github.com/IBM/sarama"
)

// Admin opens a sarama client and a cluster admin sharing its connections,
// for what goka does not offer: end and committed offsets, group state,
// topic configuration. clientID names the connections in the brokers' logs.
// Closing the admin closes the client too; close only the admin.
func (k Kafka) Admin(clientID string) (sarama.Client, sarama.ClusterAdmin, error) {
	k = k.WithDefaults()
	cfg, err := k.Sarama()
	if err != nil {
		return nil, nil, err
	}
	cfg.ClientID = clientID
	client, err := sarama.NewClient(k.Brokers, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to brokers %s: %w", strings.Join(k.Brokers, ","), err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("cluster admin on brokers %s: %w", strings.Join(k.Brokers, ","), err)
	}
	return client, admin, nil
}
