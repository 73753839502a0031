package view_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/view"
)

// TestTotals checks the running counts and the listing against what the
// test wrote: new sensors, updates, tombstones, one sensor in two
// partitions, and a restart on the same state dir (the counts then start
// from what the local copy holds and go on from the stored offset).
func TestTotals(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	const group = "totals"
	_, write := testkit.TableWriter(t, kc, group, 3)

	type pk struct {
		key string
		p   int32
	}
	state := map[pk]uint64{} // the independent answer: what each partition holds
	put := func(key string, p int32, samples uint64) {
		t.Helper()
		var v []byte
		if samples > 0 {
			v = codec.AppendEnvelope(nil, codec.Meta{Partition: p, Samples: samples, Updated: 1, Dim: 2}, nil)
			state[pk{key, p}] = samples
		} else {
			delete(state, pk{key, p}) // a tombstone
		}
		write(key, p, v)
	}
	check := func(v *view.View) {
		t.Helper()
		var samples uint64
		for _, s := range state {
			samples += s
		}
		testkit.Eventually(t, 30*time.Second, func() error {
			got := v.Totals()
			n, err := v.Count()
			if err != nil || got.Sensors != len(state) || n != len(state) || got.Samples != samples {
				return fmt.Errorf("totals %+v, count %d (%v); want %d sensors, %d samples", got, n, err, len(state), samples)
			}
			// The listing (from the partitions' ID sets once recovered):
			// every key some partition holds, once, in byte order.
			var want []string
			for k := range state {
				want = append(want, k.key)
			}
			slices.Sort(want)
			want = slices.Compact(want)
			ids, more, err := v.Sensors("", 0)
			if err != nil || more || !slices.Equal(ids, want) {
				return fmt.Errorf("sensors %v (more %v, %v); want %v", ids, more, err, want)
			}
			if ids, _, _ := v.Sensors(want[2], 3); !slices.Equal(ids, want[3:6]) {
				return fmt.Errorf("sensors after %q, limit 3: %v; want %v", want[2], ids, want[3:6])
			}
			return nil
		})
	}

	for i := range 30 {
		put(fmt.Sprint("s", i), int32(i%3), uint64(i+1))
	}
	for i := range 10 {
		put(fmt.Sprint("s", i), int32(i%3), uint64(100+i)) // updates
	}
	put("s3", 0, 0)  // tombstone of a sensor
	put("s4", 0, 0)  // tombstone of a key its partition never had
	put("s5", 0, 7)  // s5 also in partition 0 (it lives in 2)
	put("s28", 1, 0) // tombstone
	put("s28", 1, 3) // back

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(testkit.Context(t, 2*time.Minute))
	v, err := view.New(view.Config{Group: group, Kafka: kc, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	if err := v.WaitRecovered(ctx); err != nil {
		t.Fatal(err)
	}
	check(v)
	put("new", 1, 4)
	put("s0", 0, 0)
	put("s1", 1, 200)
	check(v)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	put("s2", 2, 0)
	put("later", 2, 9)
	v, err = view.New(view.Config{Group: group, Kafka: kc, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx2 := testkit.Context(t, time.Minute)
	go v.Run(ctx2)
	if err := v.WaitRecovered(ctx2); err != nil {
		t.Fatal(err)
	}
	check(v)
}
