package e2e

import (
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/client"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
)

func dist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

// TestRunStopResume is the README's first command: `streamrls run` learns
// θ* within seconds, stops cleanly on SIGTERM, and a second run on the same
// data dir continues the counts.
func TestRunStopResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	theta := emitter.DefaultTheta(10)
	ctx := testkit.Context(t, 2*time.Minute)

	runOnce := func(minSamples uint64) uint64 {
		addr := freeAddr(t)
		p := start(t, "run", "--data-dir", dataDir, "--http", addr)
		c := &client.Client{BaseURL: "http://" + addr}
		var total uint64
		t0 := time.Now()
		testkit.Eventually(t, 30*time.Second, func() error {
			ids, err := c.Sensors(ctx)
			if err != nil {
				return err
			}
			if len(ids) != 8 {
				return fmt.Errorf("%d sensors", len(ids))
			}
			total = 0
			for _, id := range ids {
				s, err := c.Sensor(ctx, id)
				if err != nil {
					return err
				}
				total += s.Samples
				if d := dist(s.Models[0].Theta, theta); d > 0.05 {
					return fmt.Errorf("sensor %s: mod1 ‖θ−θ*‖ = %.3f", id, d)
				}
			}
			if total <= minSamples {
				return fmt.Errorf("%d samples, not beyond the %d of the last run", total, minSamples)
			}
			return nil
		})
		t.Logf("every sensor's mod1 within 0.05 of θ* after %v (%d samples)", time.Since(t0).Round(time.Millisecond), total)
		testkit.Eventually(t, 30*time.Second, func() error {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/readyz: %s", resp.Status)
			}
			return nil
		})
		err, took := p.Stop(10 * time.Second)
		if err != nil {
			t.Fatalf("SIGTERM: exit %v after %v\n%s", err, took, p.Output())
		}
		t.Logf("SIGTERM: exit 0 after %v", took.Round(time.Millisecond))
		if !strings.Contains(p.Output(), "samples") {
			t.Errorf("no progress line in the output:\n%s", p.Output())
		}
		return total
	}
	first := runOnce(0)
	runOnce(first)
}

// TestServeWhileProcessorDown: `serve` keeps answering with the last state
// while the only processor is dead, and says it is ready.
func TestServeWhileProcessorDown(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	addr := freeAddr(t)
	start(t, "broker", "--listen", addr, "--data-dir", t.TempDir())
	ctx := testkit.Context(t, time.Minute)
	emit := start(t, "emit", "--brokers", addr, "--count", "4000", "--sensors", "4")
	<-emit.Done()
	if err := emit.Err(); err != nil {
		t.Fatalf("emit: %v\n%s", err, emit.Output())
	}
	proc := start(t, "process", "--brokers", addr, "--state-dir", t.TempDir(), "--session-timeout", "2s")
	httpAddr := freeAddr(t)
	start(t, "serve", "--brokers", addr, "--state-dir", t.TempDir(), "--http", httpAddr)
	c := &client.Client{BaseURL: "http://" + httpAddr}
	var before *schema.Sensor
	testkit.Eventually(t, 30*time.Second, func() (err error) {
		before, err = c.Sensor(ctx, "1")
		if err == nil && before.Samples != 1000 {
			err = fmt.Errorf("%d samples", before.Samples)
		}
		return err
	})
	proc.Kill()
	time.Sleep(time.Second)
	after, err := c.Sensor(ctx, "1")
	if err != nil {
		t.Fatalf("with the processor dead: %v", err)
	}
	if after.Samples != before.Samples || dist(after.Models[0].Theta, before.Models[0].Theta) != 0 {
		t.Errorf("state changed with no processor: %+v vs %+v", after, before)
	}
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the processor dead: %v %v", resp, err)
	}
}
