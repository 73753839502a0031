package e2e

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// TestJSONMappingInput: device readings produced by kcat in their own shape,
// {"device", "ts", "reading": {"temp", "hum", "volt"}}, read by a real
// `streamrls process --json-y reading.temp --json-x reading.hum,reading.volt
// --json-ts ts` (and a replay into a second group with the same mapping):
// each sensor's models equal the oracle on x = (hum, volt) and y = temp, and
// the records that lack a path, or hold a string there, are dead-lettered
// naming the path.
func TestJSONMappingInput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	testkit.Require(t, "kcat", "Debian's kcat")
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 3*time.Minute)
	names := topology.Names{Input: "device-readings", Group: "devices"}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 3); err != nil {
		t.Fatal(err)
	}

	sensors := []string{"a1", "b2", "c3"}
	const perSensor = 150
	rng := rand.New(rand.NewPCG(5, 6))
	xs := make([][][]float64, len(sensors))
	ys := make([][]float64, len(sensors))
	var lines strings.Builder
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for k := 0; k < perSensor; k++ {
		for i, id := range sensors {
			hum, volt := 30+20*rng.Float64(), 3+0.5*rng.Float64()
			temp := 0.4*hum - 2*volt + 0.1*rng.NormFloat64()
			xs[i] = append(xs[i], []float64{hum, volt})
			ys[i] = append(ys[i], temp)
			at := t0.Add(time.Duration(k) * time.Second)
			ts := fmt.Sprintf("%q", at.Format(time.RFC3339))
			if i == 1 {
				ts = fmt.Sprint(at.UnixMilli()) // unix milliseconds
			}
			fmt.Fprintf(&lines, `%s	{"device": %q, "ts": %s, "reading": {"temp": %v, "hum": %v, "volt": %v}, "fw": "1.2"}`+"\n",
				id, id, ts, temp, hum, volt)
		}
	}
	bad := map[string]string{
		`{"device": "a1", "ts": "2026-12-06T11:00:00Z", "reading": {"temp": 21.3, "hum": 40.2}}`:               `x "reading.volt" is missing`,
		`{"device": "a1", "ts": "2026-12-06T11:00:01Z", "reading": {"temp": "hot", "hum": 40.2, "volt": 3.3}}`: `y "reading.temp" must be a number`,
		`{"device": "a1", "reading": {"temp": 21.3, "hum": 40.2, "volt": 3.3}}`:                                `ts "ts" is missing`,
	}
	for v := range bad {
		lines.WriteString("a1\t" + v + "\n")
	}
	produce := exec.CommandContext(ctx, "kcat", "-b", b.Addr(), "-P", "-t", names.Input, "-K", "\t")
	produce.Stdin = strings.NewReader(lines.String())
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}

	mapping := []string{"--json-y", "reading.temp", "--json-x", "reading.hum,reading.volt", "--json-ts", "ts"}
	start(t, processArgs(kc, names, t.TempDir(), mapping...)...)
	v := testkit.StartView(t, ctx, kc, names.Group)
	checkMappedModels(t, v, sensors, xs, ys, len(bad))

	// Every bad record is dead-lettered, its error header naming the path.
	var dlq string
	testkit.Eventually(t, 20*time.Second, func() error {
		dlq = kcat(t, "-b", b.Addr(), "-C", "-t", names.DeadLetter, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\t%h\n")
		if n := strings.Count(dlq, "\n"); n != len(bad) {
			return fmt.Errorf("%d dead letters, want %d: %q", n, len(bad), dlq)
		}
		return nil
	})
	for _, line := range strings.Split(strings.TrimSuffix(dlq, "\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 || f[0] != "a1" {
			t.Errorf("dead letter %q: want key a1", line)
			continue
		}
		want, ok := bad[f[1]]
		if !ok {
			t.Errorf("dead letter of value %q, which was not bad", f[1])
			continue
		}
		if !strings.Contains(f[2], "streamrls-reason=decode") || !strings.Contains(f[2], want) {
			t.Errorf("dead letter %s: headers %q, want reason decode and an error with %q", f[1], f[2], want)
		}
	}

	// A replay into another group reads the topic by the same mapping.
	replayed := topology.Names{Input: names.Input, Group: "devices-replay"}.WithDefaults()
	rp := exec.CommandContext(ctx, binary, append([]string{"replay", "--brokers", kc.Brokers[0], "--topic", names.Input,
		"--group", replayed.Group, "--state-dir", t.TempDir()}, mapping...)...)
	if out, err := rp.CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	checkMappedModels(t, testkit.StartView(t, ctx, kc, replayed.Group), sensors, xs, ys, len(bad))
}

// checkMappedModels waits for every sensor's samples and compares its
// models with the oracle; sensors[0] has rejected records.
func checkMappedModels(t *testing.T, v *view.View, sensors []string, xs [][][]float64, ys [][]float64, rejected int) {
	t.Helper()
	testkit.Eventually(t, 90*time.Second, func() error {
		for i, id := range sensors {
			s, ok, err := v.Get(id)
			if err != nil || !ok {
				return fmt.Errorf("sensor %s: ok=%v err=%v", id, ok, err)
			}
			want := uint64(0)
			if i == 0 {
				want = uint64(rejected)
			}
			if s.Meta.Samples != uint64(len(ys[i])) || s.Meta.Rejected != want {
				return fmt.Errorf("sensor %s: %d samples, %d rejected; want %d, %d", id, s.Meta.Samples, s.Meta.Rejected, len(ys[i]), want)
			}
		}
		return nil
	})
	for i, id := range sensors {
		s, _, _ := v.Get(id)
		for j, spec := range rls.DefaultSpecs() {
			m := s.Bank.Models[j]
			testkit.MatchOracle(t, "sensor "+id+" "+m.Name, spec, xs[i], ys[i], m.Theta, m.P, 1e-8)
		}
	}
}
