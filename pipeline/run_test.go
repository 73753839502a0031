package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{}, "DataDir is required"},
		{Config{DataDir: "d"}, ""},
		{Config{DataDir: "d", Partitions: -1}, "Partitions -1"},
		{Config{DataDir: "d", Progress: -time.Second}, "Progress -1s"},
		{Config{DataDir: "d", HistoryPoints: 1}, "HistoryPoints 1"},
		{Config{DataDir: "d", SensorMetrics: -1}, "SensorMetrics -1"},
	} {
		err := c.cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// lockedBuffer is the live table's output, read while Run writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRun runs the whole pipeline on a fresh data directory: it logs the
// retention of its streams, every sample the emitter sends is applied (the
// API counts them per sensor), the live table reports them, and Run
// returns nil when ctx ends.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and goka")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const sensors, perSensor = 3, 100
	var out, logs lockedBuffer
	cfg := Config{
		DataDir:    t.TempDir(),
		Partitions: 2,
		Processor:  processor.Config{Learner: processor.RLS{Specs: rls.DefaultSpecs()}},
		Emitter:    emitter.Config{Sensors: sensors, Dim: 3, Count: sensors * perSensor, Seed: 1},
		HTTP:       HTTP{Listener: ln},
		Progress:   100 * time.Millisecond,
		Out:        &out,
		Log:        slog.New(slog.NewTextHandler(&logs, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()

	c := &client.Client{BaseURL: "http://" + ln.Addr().String()}
	deadline := time.Now().Add(90 * time.Second)
	for applied := uint64(0); applied != sensors*perSensor; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d samples applied after 90s; live table:\n%s", applied, sensors*perSensor, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		applied = 0
		for i := range sensors {
			if s, err := c.Sensor(ctx, emitter.SensorID(i)); err == nil {
				applied += s.Samples
			}
		}
	}
	time.Sleep(3 * cfg.Progress)
	if want := `time=1h0m0s bytes_per_topic="256 MiB" table=compacted`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks the streams' retention %q:\n%s", want, logs.String())
	}
	if want := "samples 300"; !strings.Contains(out.String(), want) {
		t.Errorf("live table lacks %q:\n%s", want, out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running 30s after ctx ended")
	}
}
