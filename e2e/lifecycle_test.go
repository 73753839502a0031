package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
)

// TestSensorLifecycle runs `process --idle-ttl 2s --tombstones delete`: a
// sensor that stops sending is deleted after the TTL and the view forgets
// it, a null value deletes its sensor at once, and a sensor that keeps
// sending is kept with every sample. A null value without --tombstones
// delete is dead-lettered instead (TestHostileInput).
func TestSensorLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(names.Input))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sample := codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: []float64{1, 2}, Y: 3}})
	send := func(key string, value []byte) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		send("quiet", sample)
		send("doomed", sample)
		send("busy", sample)
	}
	p := start(t, "process", "--brokers", b.Addr(), "--state-dir", t.TempDir(), "--http", "127.0.0.1:0",
		"--idle-ttl", "2s", "--tombstones", "delete")
	url := p.HTTPURL(t)
	v := testkit.StartView(t, ctx, kc, names.Group)
	testkit.Eventually(t, 30*time.Second, func() error {
		for _, id := range []string{"quiet", "doomed", "busy"} {
			if s, ok, err := v.Get(id); err != nil || !ok || s.Meta.Samples != 5 {
				return fmt.Errorf("sensor %s not yet at 5 samples (found %v, err %v)", id, ok, err)
			}
		}
		return nil
	})
	send("doomed", nil)
	// busy keeps sending for longer than the TTL; quiet and doomed do not.
	busy := 5
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); busy++ {
		send("busy", sample)
		time.Sleep(250 * time.Millisecond)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		for _, id := range []string{"quiet", "doomed"} {
			if _, ok, err := v.Get(id); err != nil || ok {
				return fmt.Errorf("sensor %s still in the view (err %v)", id, err)
			}
		}
		if s, ok, _ := v.Get("busy"); !ok || s.Meta.Samples != uint64(busy) {
			return fmt.Errorf("busy: found %v, want %d samples", ok, busy)
		}
		return metricIs(url, "streamrls_sensors_deleted_total", 2)
	})
	if ids, _, err := v.Sensors("", 10); err != nil || fmt.Sprint(ids) != "[busy]" {
		t.Errorf("sensors %v (err %v), want only busy", ids, err)
	}
}

// TestModelBankChange restarts `process` on a live group with another
// --model set: a model added is created fresh for every existing sensor at
// its next sample and equals the oracle over the samples it saw, the others
// go on over all samples, the change is logged at start; and a λ changed
// under the same name is refused at start with an error naming the model.
func TestModelBankChange(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	names := topology.Names{}.WithDefaults()
	const sensors, dim, count = 4, 5, 400
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	emit := func(seed uint64) {
		if n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim,
			Count: count, Format: codec.FormatBinary, Seed: seed}); err != nil || n != count {
			t.Fatalf("emit: %d of %d: %v", n, count, err)
		}
	}
	stateDir := t.TempDir()
	args := func(models ...string) []string {
		a := []string{"process", "--brokers", b.Addr(), "--state-dir", stateDir}
		for _, m := range models {
			a = append(a, "--model", m)
		}
		return a
	}
	v := testkit.StartView(t, ctx, kc, names.Group)
	waitSamples := func(n uint64) {
		t.Helper()
		testkit.Eventually(t, time.Minute, func() error {
			for i := range sensors {
				if s, ok, err := v.Get(emitter.SensorID(i)); err != nil || !ok || s.Meta.Samples != n {
					return fmt.Errorf("sensor %d not yet at %d samples", i+1, n)
				}
			}
			return nil
		})
	}
	emit(1)
	p := start(t, args("mod1:1:10", "mod2:0.99:1")...)
	waitSamples(count / sensors)
	if err, _ := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	p = start(t, args("mod1:1:10", "mod2:0.99:1", "fast:0.9:1")...)
	emit(2)
	waitSamples(2 * count / sensors)
	if !strings.Contains(p.Output(), "adding fast") {
		t.Errorf("the bank change was not logged at start:\n%s", testkit.Tail(p.Output(), 20))
	}
	x1, y1 := testkit.SensorSamples(sensors, dim, count, 1)
	x2, y2 := testkit.SensorSamples(sensors, dim, count, 2)
	specs := []rls.Spec{{Name: "mod1", Lambda: 1, Delta: 10}, {Name: "mod2", Lambda: 0.99, Delta: 1}, {Name: "fast", Lambda: 0.9, Delta: 1}}
	for i := range sensors {
		s, _, _ := v.Get(emitter.SensorID(i))
		if len(s.Bank.Models) != 3 {
			t.Fatalf("sensor %d: %d models, want 3", i+1, len(s.Bank.Models))
		}
		for j, m := range s.Bank.Models {
			xs, ys := append(append([][]float64{}, x1[i]...), x2[i]...), append(append([]float64{}, y1[i]...), y2[i]...)
			if m.Name == "fast" {
				xs, ys = x2[i], y2[i]
			}
			theta, _, err := rlstest.Oracle(specs[j], xs, ys)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != specs[j].Name || m.Samples != uint64(len(ys)) || testkit.RelErr(m.Theta, theta) > 1e-9 {
				t.Errorf("sensor %d model %s: %d samples, θ off the oracle by %.3g; want %s over %d samples",
					i+1, m.Name, m.Samples, testkit.RelErr(m.Theta, theta), specs[j].Name, len(ys))
			}
		}
	}
	if err, _ := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	p = start(t, args("mod1:1:10", "mod2:0.95:1")...)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a λ changed under the same name was not refused within 30s")
	}
	if p.ExitCode() == 0 || !strings.Contains(p.Output(), `model "mod2"`) {
		t.Errorf("exit %d, output:\n%s\nwant a non-zero exit naming mod2", p.ExitCode(), testkit.Tail(p.Output(), 10))
	}
}
