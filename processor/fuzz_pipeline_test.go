package processor_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/processor"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// pipeline is one embedded broker with a batching processor and a view,
// shared by every input of FuzzPipeline and stopped by TestMain.
type pipeline struct {
	names topology.Names
	cl    *kgo.Client
	view  *view.View
	stop  func()

	mu   sync.Mutex
	dead map[[2]int64]bool // dead letters seen, by source partition and offset
}

var (
	shared     *pipeline
	sharedErr  error
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

func startPipeline() (*pipeline, error) {
	dir, err := os.MkdirTemp("", "streamrls-fuzz-")
	if err != nil {
		return nil, err
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", DataDir: dir + "/broker"})
	if err != nil {
		return nil, err
	}
	kc := kafkaconf.Kafka{Brokers: []string{b.Addr()}, SessionTimeout: 2 * time.Second}.WithDefaults()
	p := &pipeline{names: topology.Names{Group: "fuzz"}.WithDefaults(), dead: map[[2]int64]bool{}}
	if err := processor.EnsureTopics(kc, p.names, 2); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p.stop = func() {
		cancel()
		wg.Wait()
		p.cl.Close()
		b.Close()
		os.RemoveAll(dir)
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		_ = processor.Run(ctx, processor.Config{Names: p.names, Kafka: kc, Learner: processor.RLS{Specs: rls.DefaultSpecs()},
			StateDir: dir + "/processor", BatchInterval: 20 * time.Millisecond})
	}()
	if p.view, err = view.New(view.Config{Group: p.names.Group, Kafka: kc, StateDir: dir + "/view"}); err != nil {
		return nil, err
	}
	go func() { defer wg.Done(); _ = p.view.Run(ctx) }()
	p.cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(p.names.Input),
		kgo.ConsumeTopics(p.names.DeadLetter), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		return nil, err
	}
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			p.cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				var part, off int64 = -1, -1
				for _, h := range r.Headers {
					switch h.Key {
					case schema.HeaderSourcePartition:
						part, _ = strconv.ParseInt(string(h.Value), 10, 32)
					case schema.HeaderSourceOffset:
						off, _ = strconv.ParseInt(string(h.Value), 10, 64)
					}
				}
				p.mu.Lock()
				p.dead[[2]int64{part, off}] = true
				p.mu.Unlock()
			})
		}
	}()
	return p, nil
}

// FuzzPipeline sends any key and value (or a null value) through the
// embedded broker to a real batching processor. No message may be lost
// between the two outcomes: it is dead-lettered (found by its source
// partition and offset), or its sensor's state — as a view sees it — holds
// it, within 10 seconds; and the processor never stops.
//
//	go test ./processor -run '^$' -fuzz FuzzPipeline -fuzztime 60s
func FuzzPipeline(f *testing.F) {
	good := codec.Encode(codec.FormatJSON, nil, []codec.Sample{{X: []float64{1, 2, 3}, Y: 1}})
	f.Add("s", good, false)
	f.Add("s", []byte("oops"), false)
	f.Add("s", []byte(nil), true)
	f.Add("\xff", good, false)
	f.Add("..", good, false)
	f.Add("", good, false)
	f.Add("s", codec.AppendBinary(nil, []codec.Sample{{X: []float64{1, 2}, Y: 1}}), false)
	f.Fuzz(func(t *testing.T, key string, value []byte, null bool) {
		sharedOnce.Do(func() { shared, sharedErr = startPipeline() })
		if sharedErr != nil {
			t.Fatal(sharedErr)
		}
		p := shared
		if null {
			value = nil
		} else if value == nil {
			value = []byte{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := &kgo.Record{Key: []byte(key), Value: value}
		if err := p.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Skipf("the broker refused the record: %v", err)
		}
		for {
			p.mu.Lock()
			dead := p.dead[[2]int64{int64(r.Partition), r.Offset}]
			p.mu.Unlock()
			if dead {
				return
			}
			if s, ok, err := p.view.Get(key); err == nil && ok && s.Meta.Partition == r.Partition && s.Meta.Offset >= r.Offset {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("key %q value %q (partition %d offset %d): neither dead-lettered nor in its sensor's state after 10s",
					key, fmt.Sprintf("%.80q", value), r.Partition, r.Offset)
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
}
