package history_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/topology"
)

// produceSnapshots writes rounds from..to of snapshots of sensors to topic.
func produceSnapshots(t *testing.T, kc kafkaconf.Kafka, topic string, sensors int, from, to uint64) int {
	t.Helper()
	prod, err := exactlyonce.NewProducer(kc, "snapshots-test")
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	n := 0
	for r := from; r <= to; r++ {
		for i := range sensors {
			s := bankSnap(fmt.Sprint(i), r)
			b, err := s.Encode()
			if err != nil {
				t.Fatal(err)
			}
			prod.Emit(topic, s.Sensor, b)
			n++
		}
	}
	return n
}

// runFollower runs a follower on dir until the returned stop is called.
func runFollower(t *testing.T, kc kafkaconf.Kafka, group, dir string) (*history.Follower, func()) {
	t.Helper()
	h, err := history.NewFollower(history.FollowerConfig{Group: group, Kafka: kc, Points: 8, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if h.Ready() || h.State() != "connecting" {
		t.Fatalf("a follower not started is %s", h.State())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	return h, func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// waitReady polls the follower and returns the messages it had read when it
// first said ready.
func waitReady(t *testing.T, h *history.Follower) int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !h.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after a minute: %s, %d messages", h.State(), h.Messages())
		}
		time.Sleep(time.Millisecond)
	}
	return h.Messages()
}

// TestFollowerResumes: a follower is not ready until it has read every
// snapshot that was on the topic when it started; restarted on the same
// directory it reads only the snapshots published since, and its curves
// are those of every snapshot.
func TestFollowerResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	_, kc := testkit.Broker(t)
	names := topology.Names{Group: "resume"}.WithDefaults()
	if err := processor.EnsureTopics(kc, names, 4); err != nil {
		t.Fatal(err)
	}
	const sensors = 50
	first := produceSnapshots(t, kc, names.Snapshots, sensors, 1, 40)
	dir := t.TempDir()

	h, stop := runFollower(t, kc, names.Group, dir)
	if got := waitReady(t, h); got != int64(first) {
		t.Errorf("ready after %d of the %d snapshots on the topic", got, first)
	}
	stop()

	second := produceSnapshots(t, kc, names.Snapshots, sensors, 41, 45)
	h, stop = runFollower(t, kc, names.Group, dir)
	if got := waitReady(t, h); got != int64(second) {
		t.Errorf("restarted: ready after reading %d snapshots, want the %d new ones", got, second)
	}
	time.Sleep(200 * time.Millisecond)
	if got := h.Messages(); got != int64(second) {
		t.Errorf("restarted: read %d snapshots, want %d", got, second)
	}
	mem := history.NewStore(8)
	for r := uint64(1); r <= 45; r++ {
		for i := range sensors {
			mem.Add(bankSnap(fmt.Sprint(i), r))
		}
	}
	for _, id := range []string{"0", "17", "49"} {
		got := curve(h.Store().Points(id))
		want := curve(mem.Points(id))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sensor %s after the restart:\n got %v\nwant %v", id, got, want)
		}
	}
	stop()
}

// TestFollowerDropsAnotherTopicsCurves: a follower's directory filled from
// one broker and reused against a fresh one (another topic ID; or a wiped
// topic that ends before the offsets read) keeps none of the old curves.
func TestFollowerDropsAnotherTopicsCurves(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	for _, many := range []bool{false, true} {
		t.Run(fmt.Sprintf("new topic longer %v", many), func(t *testing.T) {
			names := topology.Names{Group: "moved"}.WithDefaults()
			dir := t.TempDir()
			_, old := testkit.Broker(t)
			if err := processor.EnsureTopics(old, names, 4); err != nil {
				t.Fatal(err)
			}
			produceSnapshots(t, old, names.Snapshots, 20, 1, 5)
			h, stop := runFollower(t, old, names.Group, dir)
			waitReady(t, h)
			stop()

			_, fresh := testkit.Broker(t)
			if err := processor.EnsureTopics(fresh, names, 4); err != nil {
				t.Fatal(err)
			}
			rounds := uint64(1)
			if many {
				rounds = 20
			}
			n := produceSnapshots(t, fresh, names.Snapshots, 4, 1, rounds)
			h, stop = runFollower(t, fresh, names.Group, dir)
			defer stop()
			if got := waitReady(t, h); got != int64(n) {
				t.Errorf("ready after %d snapshots, want the new topic's %d", got, n)
			}
			if ids := h.Store().Sensors(); len(ids) != 4 {
				t.Errorf("sensors with curves: %v; want the new topic's 4", ids)
			}
			if pts := h.Store().Points("0"); len(pts) == 0 || pts[len(pts)-1].Samples != bankSnap("0", rounds).Samples {
				t.Errorf("sensor 0's curve: %v; want the new topic's", curve(pts))
			}
		})
	}
}
