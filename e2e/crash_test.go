package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// checkAgainstOracle waits until every sensor has exactly its samples and
// compares both models with the closed-form solution.
func checkAgainstOracle(t *testing.T, v *view.View, xs [][][]float64, ys [][]float64, specs []rls.Spec, tol float64) {
	t.Helper()
	testkit.WaitSamples(t, v, ys, 90*time.Second)
	// Settled: no sample may arrive twice later either.
	time.Sleep(time.Second)
	for i := range ys {
		s, _, _ := v.Get(emitter.SensorID(i))
		if s.Meta.Samples != uint64(len(ys[i])) {
			t.Errorf("sensor %s: %d samples after settling, want %d", s.ID, s.Meta.Samples, len(ys[i]))
		}
		for j, m := range s.Bank.Models {
			if m.Samples != uint64(len(ys[i])) {
				t.Errorf("sensor %s %s: %d samples, want %d", s.ID, m.Name, m.Samples, len(ys[i]))
			}
			theta, p, err := rlstest.Oracle(specs[j], xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			if e := testkit.RelErr(m.Theta, theta); e > tol {
				t.Errorf("sensor %s %s: θ off the oracle by %.3g relative", s.ID, m.Name, e)
			}
			if e := testkit.RelErr(m.P, p); e > tol {
				t.Errorf("sensor %s %s: P off the oracle by %.3g relative", s.ID, m.Name, e)
			}
		}
	}
}

// applied is the total of samples applied over all sensors, as the view sees it.
func applied(v *view.View) uint64 {
	var n uint64
	_ = v.Each(func(s *view.Sensor) error { n += s.Meta.Samples; return nil })
	return n
}

// waitProgress waits until the view shows more than from samples applied.
func waitProgress(t *testing.T, v *view.View, from uint64) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := applied(v); n <= from {
			return fmt.Errorf("no progress beyond %d samples", n)
		}
		return nil
	})
}

// killRepeatedly starts `streamrls process args` and SIGKILLs it kills
// times, each at a random moment once it applies samples (while fewer than
// total are applied), deleting stateDir after kill wipe+1 so that the next
// process rebuilds from the changelog. It returns the process running after
// the last kill and a view of the group's table.
func killRepeatedly(t *testing.T, ctx context.Context, kc kafkaconf.Kafka, names topology.Names, stateDir string,
	kills, wipe int, total uint64, args []string) (*testkit.Proc, *view.View) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("kill timing seed %d", seed)
	p := start(t, args...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	for k := range kills {
		// Kill only once this process is applying samples, at a random
		// moment after that.
		before := applied(v)
		t0 := time.Now()
		if before < total {
			// On a loaded machine the stream may end before the last kills:
			// those then hit an idle process, which must recover as well.
			waitProgress(t, v, before)
		}
		if k > 0 && before < total {
			t.Logf("restart %d: applying again %v after the kill", k, time.Since(t0).Round(time.Millisecond))
		}
		d := time.Duration(rng.IntN(700)) * time.Millisecond
		time.Sleep(d)
		p.Kill()
		t.Logf("kill %d: %v after progress from %d samples (now %d)", k+1, d, before, applied(v))
		if k == wipe {
			if err := os.RemoveAll(stateDir); err != nil {
				t.Fatal(err)
			}
			t.Logf("deleted %s: the next process rebuilds from the changelog", stateDir)
		}
		p = start(t, args...)
	}
	return p, v
}

// TestCrashRecovery SIGKILLs `streamrls process` at random moments while
// samples stream into 8 partitions for 16 sensors, once also deleting its
// local state so that it rebuilds from the changelog. Every sample must be
// applied exactly once.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 4*time.Minute)
	const sensors, dim, partitions = 16, 10, 8
	const count, rate, seed = 30000, 1500, 42
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, Dim: dim,
		Count: count, Rate: rate, Seed: seed})

	stateDir := filepath.Join(t.TempDir(), "state")
	p, v := killRepeatedly(t, ctx, kc, names, stateDir, 6, 2, count,
		processArgs(kc, names, stateDir, "--log-level", "debug"))
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)
	if err, took := p.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)\n%s", err, took, p.Output())
	}
}
