package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/processor"
)

// TestZeroFlags: 0 on the command line turns batches, their growing and
// the noise off through the configurations' explicit fields, and a value
// out of range is a usage error that names its flag.
func TestZeroFlags(t *testing.T) {
	parse := func(args ...string) (processor.Config, error) {
		var p processorFlags
		fs := pflag.NewFlagSet("process", pflag.ContinueOnError)
		p.register(fs)
		if err := fs.Parse(append([]string{"--state-dir", t.TempDir()}, args...)); err != nil {
			t.Fatal(err)
		}
		return p.config()
	}
	cfg, err := parse()
	if err != nil || cfg.NoBatches || cfg.NoBatchGrowth || cfg.BatchInterval != processor.DefaultBatchInterval {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = parse("--batch-interval", "0", "--batch-max-interval", "0")
	if err != nil || !cfg.NoBatches || !cfg.NoBatchGrowth {
		t.Errorf("--batch-interval 0 --batch-max-interval 0: NoBatches %v, NoBatchGrowth %v, %v", cfg.NoBatches, cfg.NoBatchGrowth, err)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--batch-interval", "-1s"}},
		{[]string{"--batch-max-interval", "-1s"}},
		{[]string{"--batch-density", "0"}},
		{[]string{"--batch-density", "-2"}},
		{[]string{"--max-dim", "-1"}},
		{[]string{"--idle-ttl", "-1s"}},
		{[]string{"--idle-ttl", "1m", "--batch-interval", "0"}},
		{[]string{"--tombstones", "keep"}},
		{[]string{"--json-y", "reading..temp", "--json-x", "reading.hum"}},
		{[]string{"--json-x", "reading.hum,reading.hum", "--json-y", "reading.temp"}},
		{[]string{"--json-ts", "reading", "--json-y", "reading.temp", "--json-x", "reading.hum"}},
	} {
		_, err := parse(tc.args...)
		if exitCode(err) != 2 || !strings.HasPrefix(err.Error(), tc.args[0]+" ") {
			t.Errorf("%v: %v; want a usage error naming %s", tc.args, err, tc.args[0])
		}
	}

	cfg, err = parse("--json-y", "reading.temp", "--json-x", "reading.hum,reading.volt", "--json-ts", "ts")
	if m := cfg.JSONMapping; err != nil || m.Y != "reading.temp" || len(m.X) != 2 || m.X[1] != "reading.volt" || m.TS != "ts" {
		t.Errorf("--json-y/--json-x/--json-ts: %+v, %v", m, err)
	}

	var e emitFlags
	fs := pflag.NewFlagSet("emit", pflag.ContinueOnError)
	e.register(fs, 0, 0)
	if err := fs.Parse([]string{"--noise", "-1", "--linger", "2s"}); err != nil {
		t.Fatal(err)
	}
	ecfg, err := e.config()
	if err != nil || !ecfg.NoNoise || ecfg.Linger != 2*time.Second {
		t.Errorf("--noise -1: NoNoise %v, %v", ecfg.NoNoise, err)
	}
	e.sensors = 0
	if _, err := e.config(); exitCode(err) != 2 || !strings.HasPrefix(err.Error(), "--sensors 0: ") {
		t.Errorf("--sensors 0: %v; want a usage error naming --sensors", err)
	}
}
