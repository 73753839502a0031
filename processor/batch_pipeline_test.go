package processor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// sent is what a test sent per sensor, for the oracle.
type sent struct {
	xs map[string][][]float64
	ys map[string][]float64
}

// sendSamples sends counts[i] single-sample binary messages for sensor
// keys[i], interleaved, and waits for every acknowledgement.
func (s *sent) send(t *testing.T, kc kafkaconf.Kafka, topic string, keys []string, counts []int, seed uint64) {
	t.Helper()
	if s.xs == nil {
		s.xs, s.ys = map[string][][]float64{}, map[string][]float64{}
	}
	const dim = 10
	gen := emitter.NewGenerator(len(keys), dim, emitter.DefaultTheta(dim), 0.1, seed)
	prod, err := exactlyonce.NewProducer(kc, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	left := append([]int(nil), counts...)
	for more := true; more; {
		more = false
		for i, key := range keys {
			if left[i] == 0 {
				continue
			}
			left[i]--
			more = true
			x := make([]float64, dim)
			smp := gen.Next(i, x)
			s.xs[key] = append(s.xs[key], x)
			s.ys[key] = append(s.ys[key], smp.Y)
			wg.Add(1)
			prod.Emit(topic, key, codec.AppendBinary(nil, []codec.Sample{smp})).Then(func(err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("send: %v", errs[0])
	}
}

// check waits until the view holds every sensor's samples and compares
// their models with the closed-form oracle.
func (s *sent) check(t *testing.T, v *view.View, specs []rls.Spec) {
	t.Helper()
	testkit.Eventually(t, time.Minute, func() error {
		for key, ys := range s.ys {
			got, ok, err := v.Get(key)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("sensor %s not in the view", key)
			}
			if got.Meta.Samples != uint64(len(ys)) {
				return fmt.Errorf("sensor %s: view has %v samples, want %d", key, got.Meta.Samples, len(ys))
			}
		}
		return nil
	})
	for key, ys := range s.ys {
		got, _, _ := v.Get(key)
		for j, m := range got.Bank.Models {
			testkit.MatchOracle(t, "sensor "+key+" "+m.Name, specs[j], s.xs[key], ys, m.Theta, m.P, 1e-9)
		}
	}
}

func histCount(h prometheus.Histogram) uint64 {
	var m dto.Metric
	_ = h.Write(&m)
	return m.GetHistogram().GetSampleCount()
}

// runProc runs a processor until the returned stop is called.
func runProc(t *testing.T, ctx context.Context, cfg processor.Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := processor.Run(ctx, cfg); err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// TestBatchOneAndTenThousand: a sensor with one sample and a sensor with
// 10,000 in the same batch both end equal to the oracle, and the batch
// writes each of them once.
func TestBatchOneAndTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	ctx := testkit.Context(t, 2*time.Minute)
	names := topology.Names{Group: "one-and-many"}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 1); err != nil {
		t.Fatal(err)
	}
	var s sent
	s.send(t, kc, names.Input, []string{"small", "big"}, []int{1, 10000}, 5)

	specs := rls.DefaultSpecs()
	metrics := processor.NewMetrics(nil)
	// An interval longer than the test: the batch ends when the processor stops.
	stop := runProc(t, ctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: specs},
		StateDir: t.TempDir(), Metrics: metrics, BatchInterval: time.Hour})
	testkit.Eventually(t, time.Minute, func() error {
		if n := float64(metrics.Applied.Load()); n != 10001 {
			return fmt.Errorf("%v of 10001 samples applied", n)
		}
		return nil
	})
	if n := float64(metrics.Written.Load()); n != 0 {
		t.Fatalf("%v samples written before the batch ended", n)
	}
	stop()
	if n := float64(metrics.Written.Load()); n != 10001 {
		t.Fatalf("%v of 10001 samples written when the processor stopped", n)
	}
	if w, b := float64(metrics.StateWrites.Load()), histCount(metrics.BatchMessages); w != 2 || b != 1 {
		t.Fatalf("%v state writes in %d batches, want 2 in 1", w, b)
	}
	s.check(t, testkit.StartView(t, ctx, kc, names.Group), specs)
}

// TestBatchSpansRebalance: a processor's open batch when a second
// processor joins the group is written at the rebalance (long before its
// interval), and every sample is applied exactly once across the two.
func TestBatchSpansRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	kc.SessionTimeout = 2 * time.Second
	ctx := testkit.Context(t, 3*time.Minute)
	names := topology.Names{Group: "rebalance"}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	counts := []int{300, 300, 300, 300, 300, 300, 300, 300}
	var s sent
	s.send(t, kc, names.Input, keys, counts, 1)

	specs := rls.DefaultSpecs()
	const interval = time.Hour
	ma, mb := processor.NewMetrics(nil), processor.NewMetrics(nil)
	var bStarted sync.Once
	assigned := make(chan struct{})
	stopA := runProc(t, ctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: specs},
		StateDir: t.TempDir(), Metrics: ma, BatchInterval: interval})
	testkit.Eventually(t, time.Minute, func() error {
		if n := float64(ma.Applied.Load()); n != 2400 {
			return fmt.Errorf("A applied %v of 2400", n)
		}
		return nil
	})
	if n := float64(ma.Written.Load()); n != 0 {
		t.Fatalf("A wrote %v samples before its batch ended", n)
	}
	joined := time.Now()
	stopB := runProc(t, ctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: specs},
		StateDir: t.TempDir(), Metrics: mb, BatchInterval: interval,
		OnStart: func(p *goka.Processor) { bStarted.Do(func() { close(assigned) }) }})
	<-assigned
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := float64(ma.Written.Load()); n != 2400 {
			return fmt.Errorf("A wrote %v of its 2400 samples", n)
		}
		return nil
	})
	t.Logf("A's batch written %v after B joined (interval %v)", time.Since(joined).Round(time.Millisecond), interval)

	// The second half goes to whichever processor owns each partition now.
	s.send(t, kc, names.Input, keys, counts, 2)
	testkit.Eventually(t, time.Minute, func() error {
		if n := float64(ma.Applied.Load()) + float64(mb.Applied.Load()); n < 4800 {
			return fmt.Errorf("A and B applied %v of 4800", n)
		}
		return nil
	})
	stopB()
	stopA()
	if a, b := float64(ma.Applied.Load()), float64(mb.Applied.Load()); a+b != 4800 || a <= 2400 && b == 0 {
		t.Errorf("A applied %v and B %v: want 4800 in all, shared", a, b)
	}
	s.check(t, testkit.StartView(t, ctx, kc, names.Group), specs)
}
