package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/processor"
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
		fams, err := tryScrape(url)
		if err != nil {
			return err
		}
		if n, _ := value(fams, "streamrls_sensors_deleted_total"); n != 2 {
			return fmt.Errorf("%v sensors deleted, want 2", n)
		}
		return nil
	})
	if ids, _, err := v.Sensors("", 10); err != nil || fmt.Sprint(ids) != "[busy]" {
		t.Errorf("sensors %v (err %v), want only busy", ids, err)
	}
}
