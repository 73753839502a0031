package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/streamrls/streamrls/pipeline"
)

// TestRetentionFlags: `run` bounds its streams by default, 0 lifts a limit,
// and a value that would delete samples before they are processed, or a
// partition's share below a segment, is a usage error naming the flag and
// the value.
func TestRetentionFlags(t *testing.T) {
	parse := func(args ...string) (pipeline.Config, error) {
		var f runFlags
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(append([]string{"--data-dir", t.TempDir()}, args...)); err != nil {
			t.Fatal(err)
		}
		return f.config(&globalFlags{})
	}
	for _, tc := range []struct {
		args      []string
		age       time.Duration
		size      int64
		wantError string // the flag and value the error names; "" for none
	}{
		{nil, pipeline.DefaultRetention, pipeline.DefaultRetentionBytes, ""},
		{[]string{"--retention", "0", "--retention-bytes", "0"}, -1, -1, ""},
		{[]string{"--retention", "2h", "--retention-bytes", "1GiB"}, 2 * time.Hour, 1 << 30, ""},
		{[]string{"--retention-bytes", "8MiB", "--partitions", "8"}, pipeline.DefaultRetention, 8 << 20, ""},
		{[]string{"--retention", "-1m"}, 0, 0, "--retention -1m0s"},
		{[]string{"--retention", "1ns"}, 0, 0, "--retention 1ns"},
		{[]string{"--retention", "59s"}, 0, 0, "--retention 59s"},
		{[]string{"--retention-bytes", "-1"}, 0, 0, `--retention-bytes "-1"`},
		{[]string{"--retention-bytes", "lots"}, 0, 0, `--retention-bytes "lots"`},
		{[]string{"--retention-bytes", "100EiB"}, 0, 0, `--retention-bytes "100EiB"`},
		{[]string{"--retention-bytes", "7MiB", "--partitions", "8"}, 0, 0, `--retention-bytes "7MiB"`},
		{[]string{"--retention-bytes", "1"}, 0, 0, `--retention-bytes "1"`},
	} {
		cfg, err := parse(tc.args...)
		if tc.wantError != "" {
			if exitCode(err) != 2 || !strings.HasPrefix(err.Error(), tc.wantError+":") {
				t.Errorf("%v: %v; want a usage error starting %q", tc.args, err, tc.wantError)
			}
			continue
		}
		if err != nil || cfg.Retention != tc.age || cfg.RetentionBytes != tc.size {
			t.Errorf("%v: retention %v, %d bytes, %v; want %v, %d", tc.args, cfg.Retention, cfg.RetentionBytes, err, tc.age, tc.size)
		}
	}
}
