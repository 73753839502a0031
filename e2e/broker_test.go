package e2e

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startBroker(t *testing.T, addr, dir string) *broker.Broker {
	t.Helper()
	var b *broker.Broker
	var err error
	for i := 0; i < 50; i++ { // the port can take a moment to be free again
		if b, err = broker.Start(broker.Config{Listen: addr, DataDir: dir}); err == nil {
			return b
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("start broker on %s: %v", addr, err)
	return nil
}

// TestBrokerDownAtStartAndRestart starts a processor before its broker
// exists, then stops and restarts the broker in the middle of the stream.
// Every sample must still be applied exactly once.
func TestBrokerDownAtStartAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	addr, dir := freeAddr(t), filepath.Join(t.TempDir(), "broker")
	kc := kafkaconf.Kafka{Brokers: []string{addr}, SessionTimeout: 2 * time.Second}.WithDefaults()
	names := topology.Names{}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The processor starts first, with no broker: it must wait and retry.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = processor.Run(ctx, processor.Config{Names: names, Kafka: kc, Learner: processor.RLS{Specs: rls.DefaultSpecs()},
			StateDir: t.TempDir(), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second})
	}()
	time.Sleep(2 * time.Second)
	b := startBroker(t, addr, dir)

	const sensors, dim = 8, 6
	emit := func(count int64, seed uint64) {
		n, err := emitter.Run(ctx, emitter.Config{Kafka: kc, Topic: names.Input, Sensors: sensors, Dim: dim,
			Count: count, Format: codec.FormatJSON, Seed: seed})
		if err != nil || n != count {
			t.Fatalf("emit: %d of %d: %v", n, count, err)
		}
	}
	const first, second = 40000, 8000
	emit(first, 1)
	v := testkit.StartView(t, ctx, kc, names.Group)
	waitProgress(t, v, 0)

	// Stop the broker mid-stream, keep it down a while, restart it on the
	// same address and data.
	b.Close()
	if n := applied(v); n < first {
		t.Logf("broker stopped mid-stream: %d of %d samples applied", n, first)
	} else {
		t.Logf("broker stopped after all %d samples were applied: this run tested a restart, not a mid-stream one", n)
	}
	time.Sleep(2 * time.Second)
	b = startBroker(t, addr, dir)
	defer b.Close()
	emit(second, 2)

	xs1, ys1 := testkit.SensorSamples(sensors, dim, first, 1)
	xs2, ys2 := testkit.SensorSamples(sensors, dim, second, 2)
	for i := range xs1 {
		xs1[i] = append(xs1[i], xs2[i]...)
		ys1[i] = append(ys1[i], ys2[i]...)
	}
	checkAgainstOracle(t, v, xs1, ys1, rls.DefaultSpecs(), 1e-8)
	cancel()
	wg.Wait()
}
