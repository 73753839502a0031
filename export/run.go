package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 5 * time.Minute

// Config is an export of one group's table.
type Config struct {
	// Kafka is where the group's table is. Unset fields take their
	// defaults (kafkaconf.Kafka.WithDefaults).
	Kafka kafkaconf.Kafka
	// Group is the group whose table is exported. Default
	// topology.DefaultGroup.
	Group string
	// Format of the files. Default NPY.
	Format Format
	// Out is the directory to write to (created if missing; files in it are
	// overwritten). The export is written to a temporary directory next to
	// it and moved in once complete. Required.
	Out string
	// StateDir keeps the view's local copy of the table; a kept one makes
	// the next export faster. Default a temporary one, removed after.
	StateDir string
	// Timeout is how long to wait for the view to catch up with the table.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Log receives the summary line. Default slog.Default().
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = topology.DefaultGroup
	}
	if c.Format == "" {
		c.Format = NPY
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports the first field of c (defaults applied) Run cannot use.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, err := ParseFormat(string(c.Format)); err != nil {
		return err
	}
	switch {
	case c.Out == "":
		return errors.New("export: Out is required")
	case c.Timeout < 0:
		return fmt.Errorf("export: Timeout %v: want > 0", c.Timeout)
	}
	return nil
}

// Run follows the group's table with a view until it has caught up (at
// most Timeout) and writes every sensor to Out, in one streaming pass. It stops at once when the
// brokers refuse the credentials or the group has no table.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if err := cfg.Kafka.CheckAuthOrWarn(ctx, cfg.Log); err != nil {
		return err
	}
	if err := cfg.checkTable(); err != nil {
		return err
	}
	dir := cfg.StateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "streamrls-export-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	// A kept --state-dir may be a serve's or another export's.
	release, err := tablestore.LockDir(dir)
	if err != nil {
		return err
	}
	defer release()
	v, err := view.New(view.Config{Group: cfg.Group, Kafka: cfg.Kafka, StateDir: dir, Log: cfg.Log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- v.Run(ctx) }()
	defer func() { cancel(); <-runErr }()
	wctx, wcancel := context.WithTimeout(ctx, cfg.Timeout)
	defer wcancel()
	if err := v.WaitRecovered(wctx); err != nil {
		return fmt.Errorf("waiting for the view of group %q to catch up: %w", v.Group(), err)
	}
	start := time.Now()
	res, err := Write(cfg.Out, cfg.Format, Stream(ctx, v))
	if err != nil {
		return err
	}
	cfg.Log.Info("exported", "group", cfg.Group, "sensors", res.Sensors, "format", string(cfg.Format), "files", res.Files, "out", cfg.Out, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// checkTable fails when the group has no table: a mistyped group would
// otherwise wait for it until Timeout.
func (cfg Config) checkTable() error {
	table := topology.Names{Group: cfg.Group}.Table()
	tm, err := cfg.Kafka.TopicManager()
	if err != nil {
		return err
	}
	ps, err := tm.Partitions(table)
	tm.Close()
	if err != nil || len(ps) == 0 {
		return fmt.Errorf("group %q has no table: topic %s not found on %s (%v)", cfg.Group, table, strings.Join(cfg.Kafka.Brokers, ","), err)
	}
	return nil
}
