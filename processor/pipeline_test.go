package processor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
)

// TestPipelineMatchesOracle sends samples in every wire format through the
// embedded broker and checks every sensor's models against the closed-form
// weighted least-squares solution.
func TestPipelineMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const sensors, dim, partitions = 6, 5, 4
	names := topology.Names{}.WithDefaults()
	specs := []rls.Spec{{Name: "mod1", Lambda: 1, Delta: 10}, {Name: "mod2", Lambda: 0.99, Delta: 1}, {Name: "fast", Lambda: 0.9, Delta: 1}}
	if err := processor.EnsureTopics(kc, names, partitions); err != nil {
		t.Fatal(err)
	}

	// Three runs of the emitter, one per format, one after another: each
	// sensor's samples are the runs' sequences concatenated.
	runs := []struct {
		format codec.Format
		batch  int
		count  int64
		seed   uint64
	}{
		{codec.FormatJSON, 1, 3000, 11},
		{codec.FormatText, 1, 3000, 12},
		{codec.FormatBinary, 16, 6000, 13},
		{codec.FormatJSON, 7, 3000, 14},
	}
	xs, ys := make([][][]float64, sensors), make([][]float64, sensors)
	var total int64
	for _, r := range runs {
		n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim,
			Count: r.count, Batch: r.batch, Format: r.format, Seed: r.seed, Noise: 0.1})
		if err != nil || n != r.count {
			t.Fatalf("emit %v: sent %d of %d: %v", r.format, n, r.count, err)
		}
		rx, ry := testkit.SensorSamples(sensors, dim, r.count, r.seed)
		for i := range xs {
			xs[i] = append(xs[i], rx[i]...)
			ys[i] = append(ys[i], ry[i]...)
		}
		total += n
	}
	if total < 10000 {
		t.Fatalf("only %d samples", total)
	}

	metrics := processor.NewMetrics(nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := processor.Run(ctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: specs},
			StateDir: t.TempDir(), Metrics: metrics}); err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	v := testkit.StartView(t, ctx, kc, names.Group)

	testkit.Eventually(t, 2*time.Minute, func() error {
		for i := 0; i < sensors; i++ {
			s, ok, err := v.Get(emitter.SensorID(i))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("sensor %s not in view yet", emitter.SensorID(i))
			}
			if s.Meta.Samples != uint64(len(ys[i])) {
				return fmt.Errorf("sensor %s: %d of %d samples", s.ID, s.Meta.Samples, len(ys[i]))
			}
		}
		return nil
	})

	for i := 0; i < sensors; i++ {
		s, _, _ := v.Get(emitter.SensorID(i))
		if s.Meta.Rejected != 0 {
			t.Errorf("sensor %s: %d rejected", s.ID, s.Meta.Rejected)
		}
		if len(s.Bank.Models) != len(specs) {
			t.Fatalf("sensor %s: %d models, want %d", s.ID, len(s.Bank.Models), len(specs))
		}
		for j, m := range s.Bank.Models {
			theta, p, err := rlstest.Oracle(specs[j], xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			if e := testkit.RelErr(m.Theta, theta); e > 1e-9 {
				t.Errorf("sensor %s %s: θ off the oracle by %.3g relative", s.ID, m.Name, e)
			}
			if e := testkit.RelErr(m.P, p); e > 1e-9 {
				t.Errorf("sensor %s %s: P off the oracle by %.3g relative", s.ID, m.Name, e)
			}
			if m.Samples != uint64(len(ys[i])) {
				t.Errorf("sensor %s %s: %d samples, want %d", s.ID, m.Name, m.Samples, len(ys[i]))
			}
		}
	}
	cancel()
	wg.Wait()
}
