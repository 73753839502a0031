package e2e

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

// arSamples regenerates what `emit --ar p` sends round-robin to sensors
// sensors (count samples in all) and returns each sensor's lagged design
// and targets: row k is y[k-1], …, y[k-p], 1 for the target y[k], from its
// (p+1)-th sample on, as the processor builds it.
func arSamples(sensors, p int, count int64, seed uint64) (xs [][][]float64, ys [][]float64) {
	gen := emitter.NewGenerator(sensors, 0, emitter.DefaultARTheta(p), 0.1, seed).WithAR(p)
	all := make([][]float64, sensors)
	for k := int64(0); k < count; k++ {
		i := int(k % int64(sensors))
		all[i] = append(all[i], gen.Next(i, nil).Y)
	}
	xs, ys = make([][][]float64, sensors), make([][]float64, sensors)
	for i, y := range all {
		for k := p; k < len(y); k++ {
			row := make([]float64, 0, p+1)
			for j := 1; j <= p; j++ {
				row = append(row, y[k-j])
			}
			xs[i] = append(xs[i], append(row, 1))
			ys[i] = append(ys[i], y[k])
		}
	}
	return xs, ys
}

// TestARProcess: `emit --ar 4` sends {"y": …} samples of an AR(4) process,
// `process --ar 4` learns them: θ and P equal the closed-form least squares
// on the lagged design, and the API names the coefficients.
func TestARProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	const sensors, p, count, seed = 4, 4, 4000, 11
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	runToEnd(t, 2*time.Minute, "emit", "--brokers", b.Addr(), "--sensors", strconv.Itoa(sensors), "--ar", strconv.Itoa(p),
		"--count", strconv.Itoa(count), "--rate", "0", "--seed", strconv.Itoa(seed))
	start(t, processArgs(kc, names, t.TempDir(), "--ar", strconv.Itoa(p))...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	xs, ys := arSamples(sensors, p, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)
	s, _, err := v.Get(emitter.SensorID(0))
	if err != nil {
		t.Fatal(err)
	}
	if s.Lags.Order != p || len(s.Lags.Values) != p {
		t.Fatalf("sensor 1: lags %+v, want %d", s.Lags, p)
	}
	last := len(ys[0]) - 1
	for j, want := range []float64{ys[0][last], ys[0][last-1], ys[0][last-2], ys[0][last-3]} {
		if s.Lags.Values[j] != want {
			t.Errorf("sensor 1: lag %d is %v, want %v", j+1, s.Lags.Values[j], want)
		}
	}
	if got := codec.DescribeSensorLags(s.ID, names.Group, s.Meta, s.Lags, s.Bank).Features; !slices.Equal(got,
		[]string{"y[t-1]", "y[t-2]", "y[t-3]", "y[t-4]", "1"}) {
		t.Errorf("sensor 1: features %v", got)
	}

	// A replay into another group rebuilds the lags from the input.
	replayed := topology.Names{Input: names.Input, Group: "rls-replay"}.WithDefaults()
	rp := exec.CommandContext(ctx, binary, "replay", "--brokers", kc.Brokers[0], "--topic", names.Input,
		"--group", replayed.Group, "--state-dir", t.TempDir(), "--ar", strconv.Itoa(p))
	if out, err := rp.CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	checkAgainstOracle(t, testkit.StartView(t, ctx, kc, replayed.Group), xs, ys, rls.DefaultSpecs(), 1e-8)
}

// TestARCrashRecovery SIGKILLs `streamrls process --ar 4` while AR samples
// stream, once also deleting its local state so that it rebuilds from the
// changelog: every sample is applied once and the lags stay exact, so θ and
// P end equal to the oracle on the lagged design.
func TestARCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 4*time.Minute)
	const sensors, p, partitions = 8, 4, 4
	const count, rate, seed = 16000, 1500, 43
	names := topology.Names{}.WithDefaults()
	emitted := streamInto(t, ctx, names, partitions, emitter.Config{Kafka: kc, Sensors: sensors, AR: p,
		Count: count, Rate: rate, Seed: seed})
	stateDir := filepath.Join(t.TempDir(), "state")
	// The first p samples of a sensor fill its lags and are not applied.
	proc, v := killRepeatedly(t, ctx, kc, names, stateDir, 4, 1, count-sensors*p,
		processArgs(kc, names, stateDir, "--ar", strconv.Itoa(p)))
	if err := <-emitted; err != nil {
		t.Fatalf("emitter: %v", err)
	}
	xs, ys := arSamples(sensors, p, count, seed)
	checkAgainstOracle(t, v, xs, ys, rls.DefaultSpecs(), 1e-8)
	if err, took := proc.Stop(10 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v (after %v)\n%s", err, took, proc.Output())
	}
}
