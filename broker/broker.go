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
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Defaults of Config.
const (
	// DefaultListen is Config.Listen's default, Kafka's usual port.
	DefaultListen = "127.0.0.1:9092"
	// DefaultCleanerInterval is Config.CleanerInterval's default: a
	// compacted table holds about one record per key within seconds of its
	// writes, and a retention limit acts within as long.
	DefaultCleanerInterval = 10 * time.Second
)

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
	// CleanerInterval is how often the broker compacts its compacted topics
	// (a group's table) and deletes what is past a topic's retention.ms or
	// retention.bytes (Kafka's log.cleaner.backoff.ms and
	// log.retention.check.interval.ms). Default DefaultCleanerInterval;
	// negative: never.
	CleanerInterval time.Duration
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
	stop    chan struct{} // closed by Close: the cleaner stops
	done    chan struct{} // closed by the cleaner when it has stopped
	closing sync.Once
}

// Start starts the broker and returns once it accepts connections.
func Start(cfg Config) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CleanerInterval == 0 {
		cfg.CleanerInterval = DefaultCleanerInterval
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
		kfake.BrokerConfigs(map[string]string{
			// kfake applies the broker's retention to every topic, compacted
			// ones included, where Kafka keeps a compacted table for ever:
			// only a topic's own retention.ms or retention.bytes deletes.
			"log.retention.ms": "-1",
			// kfake's own cleaner, which it starts only when a topic is
			// created or reconfigured, runs once a day: the broker's cleaner
			// (clean) does the work, for loaded topics too, at its pace.
			"log.cleaner.backoff.ms": strconv.FormatInt((24 * time.Hour).Milliseconds(), 10),
		}),
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
	b := &Broker{cluster: c, addr: addrs[0], log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	b.log.Info("embedded broker listening", "addr", b.addr, "data_dir", cfg.DataDir, "cleaner_interval", cfg.CleanerInterval)
	go b.clean(cfg.CleanerInterval)
	return b, nil
}

// slowClean is how long a cleaner pass may take before it is logged as a
// warning: kfake compacts a topic's whole log in a pass and answers no
// client meanwhile.
const slowClean = time.Second

// clean compacts and applies retention every interval until Close, a pass
// at least as long after the last one as that took. A pass's work grows
// with what was written since the last one, so a longer wait would only
// lengthen the next pass and the clients' wait. kfake's own cleaner does
// not run for topics it loads from its data dir until one is created or
// reconfigured; this one always does.
func (b *Broker) clean(interval time.Duration) {
	defer close(b.done)
	if interval < 0 {
		return
	}
	wait := interval
	for {
		select {
		case <-b.stop:
			return
		case <-time.After(wait):
		}
		began := time.Now()
		b.cluster.Compact() // compacts, then applies every topic's retention
		took := time.Since(began)
		wait = max(interval, took)
		level := slog.LevelDebug
		if took > slowClean {
			level = slog.LevelWarn
		}
		b.log.Log(context.Background(), level, "broker compacted and applied retention; clients waited meanwhile",
			"took", took, "next_in", wait)
	}
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and flushes its data dir.
func (b *Broker) Close() {
	b.closing.Do(func() { close(b.stop) })
	<-b.done
	b.cluster.Close()
	b.log.Info("embedded broker stopped", "addr", b.addr)
}
