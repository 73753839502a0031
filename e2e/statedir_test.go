package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

// emitInBackground sends count samples for sensors at rate; the channel
// gets the emitter's result.
func emitInBackground(ctx context.Context, cfg emitter.Config) <-chan error {
	if cfg.Format == codec.FormatUnknown {
		cfg.Format = codec.FormatJSON
	}
	done := make(chan error, 1)
	go func() {
		n, err := emitter.Run(ctx, cfg)
		if err == nil && n != cfg.Count {
			err = fmt.Errorf("sent %d of %d", n, cfg.Count)
		}
		done <- err
	}()
	return done
}

// streamInto creates the topics of names with partitions partitions and
// streams cfg's samples into the input in the background (JSON unless cfg
// says otherwise); the channel says how the emitter ended.
func streamInto(t *testing.T, ctx context.Context, names topology.Names, partitions int, cfg emitter.Config) <-chan error {
	t.Helper()
	if err := processor.EnsureTopics(cfg.Kafka, names, partitions); err != nil {
		t.Fatal(err)
	}
	cfg.Topic = names.Input
	return emitInBackground(ctx, cfg)
}

// processArgs runs `streamrls process` of names on stateDir with a short
// session timeout, so that a killed process's partitions move on quickly.
func processArgs(kc kafkaconf.Kafka, names topology.Names, stateDir string, extra ...string) []string {
	return append([]string{"process", "--brokers", kc.Brokers[0], "--topic", names.Input, "--group", names.Group,
		"--state-dir", stateDir, "--session-timeout", "2s"}, extra...)
}

// TestCorruptedStateDirIsRebuilt stops `streamrls process` while samples
// stream, corrupts one partition's local LevelDB (its manifest) and
// starts it again on the same state dir: the damaged copy is moved aside
// and rebuilt from the changelog, and every sensor ends with exactly its
// samples and the oracle's models.
func TestCorruptedStateDirIsRebuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, dim, partitions = 16, 5, 4
	const count, rate, seed = 8000, 1000, 11
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed})

	stateDir := filepath.Join(t.TempDir(), "state")
	args := processArgs(kc, names, stateDir)
	p := start(t, args...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	testkit.Eventually(t, 60*time.Second, func() error {
		if n := applied(v); n < 300 {
			return fmt.Errorf("%d samples applied, want 300 before stopping", n)
		}
		return nil
	})
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v (after %v)", err, took)
	}
	stoppedAt := applied(v)
	if stoppedAt >= count {
		t.Fatalf("all %d samples applied before the stop: the restarted process would have nothing to apply", count)
	}

	damaged := filepath.Join(stateDir, fmt.Sprintf("%s.0", names.Table()))
	manifests, _ := filepath.Glob(filepath.Join(damaged, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatalf("no manifest in %s", damaged)
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte(strings.Repeat("not a manifest ", 64)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stopped at %d samples applied; corrupted %v", stoppedAt, manifests)

	p = start(t, args...)
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)

	aside, _ := filepath.Glob(damaged + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("moved aside: %v; want one %s.corrupt-TIME", aside, damaged)
	}
	logs := p.Stderr.String()
	if !strings.Contains(logs, "moved aside") || !strings.Contains(logs, "path="+damaged) ||
		(len(aside) == 1 && !strings.Contains(logs, aside[0])) {
		t.Errorf("the restarted process does not log moving %s aside:\n%s", damaged, testkit.Tail(logs, 30))
	}
	if strings.Contains(logs, "processor stopped; restarting") {
		t.Errorf("the damaged copy made the processor restart:\n%s", testkit.Tail(logs, 30))
	}
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)", err, took)
	}
}

// TestSecondProcessOnAStateDirIsRefused: a second `streamrls process` on
// the --state-dir of a running one exits at once with an error naming the
// directory; the first keeps applying every sample exactly once.
func TestSecondProcessOnAStateDirIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, dim, partitions = 8, 4, 4
	const count, rate, seed = 4000, 800, 5
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed})
	stateDir := filepath.Join(t.TempDir(), "state")
	args := processArgs(kc, names, stateDir)
	first := startNamed(t, "first streamrls process", args...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	waitProgress(t, v, 0)

	second := startNamed(t, "second streamrls process", args...)
	select {
	case <-second.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("a second process on %s still runs after 15s:\n%s", stateDir, testkit.Tail(second.Stderr.String(), 20))
	}
	if second.ExitCode() == 0 {
		t.Errorf("the second process exited 0")
	}
	if out := second.Stderr.String(); !strings.Contains(out, stateDir) || !strings.Contains(out, fmt.Sprint(first.Cmd.Process.Pid)) {
		t.Errorf("the second process's error names neither %s nor the first's PID %d:\n%s", stateDir, first.Cmd.Process.Pid, out)
	}
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)
	if first.Exited() {
		t.Errorf("the first process exited: %v", first.Err())
	}
	if err, took := first.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)", err, took)
	}
}
