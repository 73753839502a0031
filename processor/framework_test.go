package processor_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// meanLearner is a second, trivial per-key learner: the running mean of y. It
// goes through exactly the path the RLS bank does.
type meanLearner struct{}

type meanState struct {
	n   uint64
	sum float64
}

func (meanLearner) New(int) (processor.State, error) { return &meanState{}, nil }

func (meanLearner) StateSize(int) int { return 16 }

func (meanLearner) Decode(b []byte) (processor.State, error) {
	if len(b) != 16 {
		return nil, errors.New("mean state: want 16 bytes")
	}
	return &meanState{n: binary.LittleEndian.Uint64(b), sum: math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))}, nil
}

func (s *meanState) Apply(_ []float64, y float64) error { s.n++; s.sum += y; return nil }

func (s *meanState) Append(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, s.n)
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(s.sum))
}

func TestPluggableLearner(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names := topology.Names{Input: "means-in", Group: "means"}.WithDefaults()
	const sensors, dim, count = 4, 3, 2000
	if err := processor.EnsureTopics(kc, names, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim, Count: count,
		Batch: 5, Format: codec.FormatBinary, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	_, ys := testkit.SensorSamples(sensors, dim, count, 3)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = processor.Run(ctx, processor.Config{Names: names, Kafka: kc, Learner: meanLearner{}, StateDir: t.TempDir()})
	}()

	opts, err := kc.ViewOptions()
	if err != nil {
		t.Fatal(err)
	}
	var v *goka.View
	testkit.Eventually(t, 30*time.Second, func() (err error) {
		v, err = goka.NewView(kc.Brokers, goka.Table(names.Table()), processor.TableCodec{Learner: meanLearner{}},
			append(opts, goka.WithViewStorageBuilder(storage.DefaultBuilder(t.TempDir())))...)
		return err
	})
	go v.Run(ctx)
	testkit.Eventually(t, time.Minute, func() error {
		for i := 0; i < sensors; i++ {
			got, err := v.Get(emitter.SensorID(i))
			if err != nil || got == nil {
				return fmt.Errorf("sensor %d: %v %v", i, got, err)
			}
			rec := got.(*processor.Record)
			st := rec.State.(*meanState)
			want := 0.0
			for _, y := range ys[i] {
				want += y
			}
			if st.n != uint64(len(ys[i])) || rec.Samples != st.n {
				return fmt.Errorf("sensor %d: n=%d samples=%d, want %d", i, st.n, rec.Samples, len(ys[i]))
			}
			if math.Abs(st.sum-want) > 1e-9*math.Max(1, math.Abs(want)) {
				return fmt.Errorf("sensor %d: sum %v, want %v", i, st.sum, want)
			}
		}
		return nil
	})
	cancel()
	wg.Wait()
}
