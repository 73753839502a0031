package e2e

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
)

// TestZombieProcessor: two `streamrls process` share 8 partitions under a
// paced stream of 16 sensors. One is frozen with SIGSTOP (a long GC pause,
// a frozen VM, a stopped container) well past its session timeout while
// the stream goes on; the other takes its partitions and finishes the
// stream. The frozen one is then woken with SIGCONT, holding the batch it
// was collecting. Whatever it does then must not reach the table: the live
// view (`serve`), a fresh view reading the changelog alone and a fresh
// processor of the group that goes on with more samples all hold every
// sensor's exact count and the closed-form oracle's models.
func TestZombieProcessor(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	// The two runs spend most of their time with a process frozen and
	// the stream paced: they share the machine well.
	for _, c := range []struct{ name, interval string }{{"default-interval", ""}, {"interval-1s", "1s"}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			zombieRun(t, c.interval)
		})
	}
}

// zombieProc is a `streamrls process` with --http, and its base URL.
type zombieProc struct {
	*testkit.Proc
	url string
}

// applied is the process's streamrls_samples_applied_total.
func (p zombieProc) applied() (float64, error) {
	fams, err := tryScrape(p.url)
	if err != nil {
		return 0, err
	}
	v, _ := value(fams, "streamrls_samples_applied_total")
	return v, nil
}

func zombieRun(t *testing.T, interval string) {
	const sensors, dim, partitions = 16, 10, 8
	const perSensor, more = 1200, 200
	const rate, seed, seed2 = 1000, 23, 24
	const session = 2 * time.Second
	ctx := testkit.Context(t, 3*time.Minute)
	broker := startNamed(t, "broker", "broker", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	addr := broker.LogAddr(t, "embedded broker listening", 10*time.Second)
	kc := kafkaconf.Kafka{Brokers: []string{addr}, SessionTimeout: session}.WithDefaults()
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, partitions); err != nil {
		t.Fatal(err)
	}
	process := func(name string) zombieProc {
		args := []string{"process", "--brokers", addr, "--state-dir", filepath.Join(t.TempDir(), "state"),
			"--session-timeout", session.String(), "--http", "127.0.0.1:0"}
		if interval != "" {
			args = append(args, "--batch-interval", interval)
		}
		p := startNamed(t, name, args...)
		return zombieProc{p, p.HTTPURL(t)}
	}
	serve := func(name string) string {
		p := startNamed(t, name, "serve", "--brokers", addr, "--state-dir", filepath.Join(t.TempDir(), "state"),
			"--http", "127.0.0.1:0")
		return p.HTTPURL(t)
	}

	live := serve("live serve")
	a, b := process("process A"), process("process B")
	emit := startNamed(t, "emit", "emit", "--brokers", addr, "--sensors", strconv.Itoa(sensors), "--dim", strconv.Itoa(dim),
		"--count", strconv.Itoa(sensors*perSensor), "--rate", strconv.Itoa(rate), "--seed", strconv.Itoa(seed))

	// Freeze A while it holds partitions and applies samples: once B has
	// applied samples (the group has both) and A applies more after that.
	var aFrom float64
	testkit.Eventually(t, 30*time.Second, func() error {
		nb, err := b.applied()
		if err != nil || nb == 0 {
			return fmt.Errorf("process B: %v samples applied (%v)", nb, err)
		}
		if aFrom, err = a.applied(); err != nil {
			return err
		}
		return nil
	})
	testkit.Eventually(t, 10*time.Second, func() error {
		if na, err := a.applied(); err != nil || na <= aFrom {
			return fmt.Errorf("process A: no samples applied beyond %v since B joined (%v)", na, err)
		}
		return nil
	})
	if emit.Exited() {
		t.Fatalf("the stream ended before process A was frozen: raise the samples or lower the rate")
	}
	na, _ := a.applied()
	if err := a.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	// A stopped process ignores SIGTERM: wake it before the cleanups stop it.
	t.Cleanup(func() { _ = a.Cmd.Process.Signal(syscall.SIGCONT) })
	t.Logf("process A frozen after applying %v samples", na)

	// B finishes the stream alone.
	select {
	case <-emit.Done():
	case <-ctx.Done():
		t.Fatal("the emitter did not end")
	}
	if emit.ExitCode() != 0 {
		t.Fatalf("emit: %v\n%s", emit.Err(), testkit.Tail(emit.Output(), 20))
	}
	xs, ys := testkit.SensorSamples(sensors, dim, sensors*perSensor, seed)
	if err := waitSensors(live, ys, 60*time.Second); err != nil {
		t.Fatalf("process B did not finish the stream while A was frozen: %v", err)
	}
	if d := 3*session - time.Since(frozen); d > 0 {
		time.Sleep(d) // frozen well past the session timeout
	}
	if err := a.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("process A woken after %v frozen", time.Since(frozen).Round(time.Millisecond))
	testkit.Eventually(t, 20*time.Second, func() error { _, err := a.applied(); return err })
	// What must not happen (a stale write) has no event to wait for: give
	// the woken process its batch interval, a failed commit and a rejoin.
	settle := 3 * session
	if interval != "" {
		d, _ := time.ParseDuration(interval)
		settle += 2 * d
	}
	time.Sleep(settle)
	if a.Exited() {
		t.Logf("process A ended after waking: %v", a.Err())
	}

	// The live view, and a fresh one from the changelog alone.
	checkSensors(t, "live view", live, xs, ys, 20*time.Second)
	fresh := serve("fresh serve")
	testkit.Eventually(t, 30*time.Second, func() error {
		if code, err := getJSON(fresh+"/readyz", nil); err != nil || code != 200 {
			return fmt.Errorf("fresh serve /readyz: %d (%v)", code, err)
		}
		return nil
	})
	checkSensors(t, "fresh view", fresh, xs, ys, 20*time.Second)

	// A fresh processor of the group, alone, goes on with more samples.
	for _, p := range []zombieProc{a, b} {
		if err, _ := p.Stop(10 * time.Second); err != nil {
			t.Logf("%s: %v", p.Name, err)
		}
	}
	process("fresh process")
	runToEnd(t, time.Minute, "emit", "--brokers", addr, "--sensors", strconv.Itoa(sensors), "--dim", strconv.Itoa(dim),
		"--count", strconv.Itoa(sensors*more), "--rate", "0", "--seed", strconv.Itoa(seed2))
	xs2, ys2 := testkit.SensorSamples(sensors, dim, sensors*more, seed2)
	for i := range xs {
		xs[i] = append(xs[i], xs2[i]...)
		ys[i] = append(ys[i], ys2[i]...)
	}
	checkSensors(t, "live view after the fresh process", live, xs, ys, 45*time.Second)
	checkSensors(t, "fresh view after the fresh process", fresh, xs, ys, 10*time.Second)
}

// waitSensors waits until the serve at base shows every sensor with
// exactly its samples; it returns the last mismatches otherwise.
func waitSensors(base string, ys [][]float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := sensorCounts(base, ys)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sensorCounts lists every sensor whose count (or a model's) is not its
// samples.
func sensorCounts(base string, ys [][]float64) error {
	var bad []string
	for i := range ys {
		id := emitter.SensorID(i)
		s, code, err := sensorAPI(base, id)
		switch {
		case err != nil || code != 200:
			bad = append(bad, fmt.Sprintf("%s: HTTP %d %v", id, code, err))
		case s.Samples != uint64(len(ys[i])):
			bad = append(bad, fmt.Sprintf("%s: %d samples", id, s.Samples))
		default:
			for _, m := range s.Models {
				if m.Samples != s.Samples {
					bad = append(bad, fmt.Sprintf("%s %s: %d samples", id, m.Name, m.Samples))
				}
			}
		}
	}
	if bad != nil {
		return fmt.Errorf("want %d samples per sensor; %s", len(ys[0]), strings.Join(bad, ", "))
	}
	return nil
}

// checkSensors waits up to timeout until the serve at base shows every
// sensor with its exact count, then compares its models with the closed-form oracle: θ
// and the trace of P within 1e-8.
func checkSensors(t *testing.T, what, base string, xs [][][]float64, ys [][]float64, timeout time.Duration) {
	t.Helper()
	if err := waitSensors(base, ys, timeout); err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	specs := rls.DefaultSpecs()
	var errs []error
	for i := range ys {
		s, code, err := sensorAPI(base, emitter.SensorID(i))
		if err != nil || s == nil {
			t.Fatalf("%s: sensor %s: %d (%v)", what, emitter.SensorID(i), code, err)
		}
		if len(s.Models) != len(specs) {
			t.Fatalf("%s: sensor %s has %d models, want %d", what, s.Sensor, len(s.Models), len(specs))
		}
		for j, m := range s.Models {
			theta, p, err := rlstest.Oracle(specs[j], xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			n := len(theta)
			trace := 0.0
			for k := range n {
				trace += p[k*n+k]
			}
			if e := testkit.RelErr(m.Theta, theta); e > 1e-8 {
				errs = append(errs, fmt.Errorf("sensor %s %s: θ off the oracle by %.3g relative", s.Sensor, m.Name, e))
			}
			if e := testkit.RelErr([]float64{m.PTrace}, []float64{trace}); e > 1e-8 {
				errs = append(errs, fmt.Errorf("sensor %s %s: trace P off the oracle by %.3g relative", s.Sensor, m.Name, e))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}
