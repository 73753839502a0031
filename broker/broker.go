// Package broker runs the embedded Kafka-protocol broker: a single kfake node
// that listens on one address and persists its log to a data directory, so that
// `streamrls run` and the tests need no Kafka installation and survive a restart.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultListen is Config.Listen's default, Kafka's usual port.
const DefaultListen = "127.0.0.1:9092"

// Config says how to run the embedded broker.
type Config struct {
	// Listen is the host:port to accept Kafka clients on. Port 0 picks a free
	// port (tests). Default DefaultListen.
	Listen string
	// DataDir keeps the log across restarts. Empty keeps everything in memory,
	// which loses all topics at exit; `streamrls broker` and `run` always set it.
	DataDir string
	// SyncWrites fsyncs every produced batch (slower; survives power loss, not
	// just a process crash). Default off, like Kafka's own default.
	SyncWrites bool
	// Options are extra kfake options (SASL users, TLS), appended last.
	Options []kfake.Opt
	// Logger receives the broker's own start/stop lines. Nil: slog.Default().
	Logger *slog.Logger
}

// Serve runs the broker until ctx ends.
func Serve(ctx context.Context, cfg Config) error {
	b, err := Start(cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	b.Close()
	return nil
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	log     *slog.Logger
}

// Start starts the broker and returns once it accepts connections.
func Start(cfg Config) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("broker: listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("broker: listen address %q: port %q is not a number in 0..65535", cfg.Listen, portStr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake always asks for 127.0.0.1; listen where the user asked instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.ClusterID("streamrls"),
		// goka's processor must be able to create its table; samples topics are
		// created explicitly by streamrls with the right partition count.
		kfake.DefaultNumPartitions(8),
		// Fast failover: allow short consumer-group session timeouts.
		kfake.GroupMinSessionTimeout(1000 * 1e6),
	}
	if cfg.DataDir != "" {
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("broker: data dir %q: %w", cfg.DataDir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("broker: data dir %q: %w", dir, err)
		}
		opts = append(opts, kfake.DataDir(dir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	opts = append(opts, cfg.Options...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start on %s (data dir %q): %w", cfg.Listen, cfg.DataDir, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, fmt.Errorf("broker: started but listens nowhere")
	}
	b := &Broker{cluster: c, addr: addrs[0], log: cfg.Logger}
	b.log.Info("embedded broker listening", "addr", b.addr, "data_dir", cfg.DataDir)
	return b, nil
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and flushes its data dir.
func (b *Broker) Close() {
	b.cluster.Close()
	b.log.Info("embedded broker stopped", "addr", b.addr)
}
