package main

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// TestScaleOutSurvivesKill: three `streamrls process` in one group share an
// 8-partition topic while samples stream in; all three apply samples; one
// is SIGKILLed mid-stream; its partitions move to the others and every
// sensor ends with exactly its samples, equal to the closed-form oracle.
func TestScaleOutSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	b, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	const sensors, dim, count, rate, seed = 16, 4, 32000, 3200.0, 5
	names := topology.Names{}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 8); err != nil {
		t.Fatal(err)
	}

	var procs []*testkit.Proc
	var addrs []string
	for i := range 3 {
		p := start(t, fmt.Sprintf("process-%d", i), nil, "process", "--brokers", b.Addr(), "--session-timeout", "2s",
			"--state-dir", t.TempDir(), "--http", "127.0.0.1:0")
		procs = append(procs, p)
		addrs = append(addrs, p.LogAddr(t, "http listening", 20*time.Second))
	}

	var sent atomic.Int64
	emitted := make(chan error, 1)
	began := time.Now()
	go func() {
		n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim, Count: count,
			Rate: rate, Seed: seed, Format: codec.FormatJSON, Sent: &sent})
		if err == nil && n != count {
			err = fmt.Errorf("sent %d of %d", n, count)
		}
		emitted <- err
	}()

	// Every process gets partitions and applies samples.
	testkit.Eventually(t, 30*time.Second, func() error {
		for i, a := range addrs {
			v, err := metric(a, "streamrls_samples_applied_total")
			if err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("process-%d has applied nothing yet (%d of %d sent)", i, sent.Load(), count)
			}
		}
		return nil
	})
	// ... and keeps applying them: a process that got partitions once and
	// then lost them in a rebalance would stall here.
	scrape := func() []float64 {
		vs := make([]float64, len(addrs))
		for i, a := range addrs {
			vs[i], _ = metric(a, "streamrls_samples_applied_total")
		}
		return vs
	}
	first := scrape()
	time.Sleep(1500 * time.Millisecond)
	second := scrape()
	t.Logf("after %v all three apply samples: %v, 1.5s later %v; %d of %d sent", time.Since(began).Round(time.Millisecond), first, second, sent.Load(), count)
	for i := range addrs {
		if second[i] <= first[i] {
			t.Errorf("process-%d applied nothing for 1.5s (%v → %v) while samples streamed in", i, first[i], second[i])
		}
	}
	if sent.Load() >= count*3/4 {
		t.Fatalf("the stream was nearly over (%d of %d) before all three processes applied samples: the kill would not be mid-stream", sent.Load(), count)
	}
	for sent.Load() < count/2 {
		time.Sleep(20 * time.Millisecond)
	}
	killed, _ := metric(addrs[0], "streamrls_samples_applied_total")
	procs[0].Kill()
	t.Logf("SIGKILLed process-0 after %v with %d of %d sent (it had applied %.0f)", time.Since(began).Round(time.Millisecond), sent.Load(), count, killed)
	if err := <-emitted; err != nil {
		t.Fatal(err)
	}

	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	var v *view.View
	testkit.Eventually(t, 10*time.Second, func() (err error) {
		v, err = view.New(view.Config{Group: names.Group, Kafka: kc, StateDir: t.TempDir()})
		return err
	})
	go v.Run(ctx)
	testkit.WaitSamples(t, v, ys, 45*time.Second)
	t.Logf("all %d sensors complete %v after the stream started", sensors, time.Since(began).Round(time.Millisecond))
	specs := rls.DefaultSpecs()
	for i := range sensors {
		s, _, _ := v.Get(emitter.SensorID(i))
		if s.Meta.Rejected != 0 {
			t.Errorf("sensor %s: %d rejected", s.ID, s.Meta.Rejected)
		}
		for j, m := range s.Bank.Models {
			if m.Samples != uint64(len(ys[i])) {
				t.Errorf("sensor %s %s: %d samples, want %d", s.ID, m.Name, m.Samples, len(ys[i]))
			}
			theta, p, err := rlstest.Oracle(specs[j], xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			if e := testkit.RelErr(m.Theta, theta); e > 1e-8 {
				t.Errorf("sensor %s %s: θ off the oracle by %.3g relative", s.ID, m.Name, e)
			}
			if e := testkit.RelErr(m.P, p); e > 1e-8 {
				t.Errorf("sensor %s %s: P off the oracle by %.3g relative", s.ID, m.Name, e)
			}
		}
	}
}
