package main

import (
	"log/slog"
	"testing"

	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/processor"
)

// TestBatchMaxBytesFlag: bench takes --batch-max-bytes as the processor
// roles do, a size, and refuses what they refuse.
func TestBatchMaxBytesFlag(t *testing.T) {
	parse := func(args ...string) (bench, process int, benchErr, processErr error) {
		var b benchFlags
		fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
		b.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, benchErr := b.command(slog.Default())
		var bf batchFlags
		fs = pflag.NewFlagSet("process", pflag.ContinueOnError)
		bf.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var cfg processor.Config
		if processErr = bf.apply(&cfg); processErr == nil {
			processErr = checkProcessor(cfg)
		}
		return c.BatchMaxBytes, cfg.BatchMaxBytes, benchErr, processErr
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, processor.DefaultBatchMaxBytes},
		{[]string{"--batch-max-bytes", "1GiB"}, 1 << 30},
		{[]string{"--batch-max-bytes", "500kB"}, 500_000},
		{[]string{"--batch-max-bytes", "1048576"}, 1 << 20},
	} {
		b, p, berr, perr := parse(tc.args...)
		if berr != nil || perr != nil || b != tc.want || p != tc.want {
			t.Errorf("%v: bench %d (%v), process %d (%v); want %d", tc.args, b, berr, p, perr, tc.want)
		}
	}
	for _, v := range []string{"0", "3GiB", "lots", "-1"} {
		_, _, berr, perr := parse("--batch-max-bytes", v)
		if exitCode(berr) != 2 || exitCode(perr) != 2 {
			t.Errorf("--batch-max-bytes %s: bench %v, process %v; want usage errors", v, berr, perr)
		}
	}
}
