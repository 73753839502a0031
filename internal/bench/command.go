package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/kafkaconf"
)

// Command is `streamrls bench` around Run: where the broker and the local
// state live, and what to print.
type Command struct {
	Config
	// Brokers to use; none: an embedded broker in this process.
	Brokers []string
	// Dir holds the embedded broker's log and the local state. Default: a
	// temporary directory, removed at the end unless Keep.
	Dir  string
	Keep bool
	// MemoryBroker keeps the embedded broker's log in memory only.
	MemoryBroker bool
	// JSON prints the report as JSON instead of a table.
	JSON bool
	// CPUProfile, if set, is where a CPU profile of the whole run goes.
	CPUProfile string
}

// RunCommand runs the bench as the command does and writes its report to w.
func RunCommand(ctx context.Context, c Command, w io.Writer) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	c.Binary = exe
	if c.Processes > 0 {
		c.ProcessorCommand = []string{exe, "process"}
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "streamrls-bench-"); err != nil {
			return err
		}
		if !c.Keep {
			defer os.RemoveAll(c.Dir)
		}
	}
	c.Config.Dir = filepath.Join(c.Dir, "state")
	if len(c.Brokers) == 0 {
		bdir := filepath.Join(c.Dir, "broker")
		if c.MemoryBroker {
			bdir = ""
		}
		// No cleaner: kfake compacts a whole log in one pass and serves no
		// client meanwhile, and over the phases' topics those pauses would
		// be what (d) and the rates measure. A real Kafka compacts beside
		// its clients; the phases' topics are dropped with the directory.
		b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", DataDir: bdir, Logger: c.Log, CleanerInterval: -1})
		if err != nil {
			return err
		}
		defer b.Close()
		c.Brokers, c.Embedded = []string{b.Addr()}, true
	}
	c.Kafka = kafkaconf.Kafka{Brokers: c.Brokers}
	if err := c.Config.Validate(); err != nil {
		return &ConfigError{err}
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := Run(ctx, c.Config)
	if rep == nil {
		return err
	}
	var werr error
	if c.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		werr = enc.Encode(rep)
	} else {
		werr = rep.WriteTable(w)
	}
	if err == nil {
		err = werr
	}
	return err
}

// ConfigError is a Command whose Config does not validate: the caller's
// input is wrong, not the run.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
