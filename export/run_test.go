package export

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/kafkaconf"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{}, "Out is required"},
		{Config{Out: "d"}, ""},
		{Config{Out: "d", Format: "xls"}, `unknown format "xls"`},
		{Config{Out: "d", Timeout: -time.Second}, "Timeout -1s"},
	} {
		err := c.cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// A group without a table fails at once instead of waiting for Timeout.
func TestRunNoTable(t *testing.T) {
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	err = Run(context.Background(), Config{Kafka: kafkaconf.Kafka{Brokers: []string{b.Addr()}}, Group: "nosuch",
		Out: t.TempDir(), Timeout: time.Minute, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), `group "nosuch" has no table: topic nosuch-table not found`) {
		t.Errorf("Run: %v, want no table", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v", took)
	}
}
