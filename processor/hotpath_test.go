package processor

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/topology"
)

// fakeCtx is the part of goka.Context the callback uses, over an in-memory
// table that goes through the table codec exactly as goka's context does
// (Value decodes the stored bytes, SetValue encodes and stores them).
type fakeCtx struct {
	gokaContext // nil: any other method panics
	key         string
	part        int32
	off         int64
	owner       context.Context
	table       map[string][]byte
	codec       TableCodec
	emits       int
	sets        int       // SetValue calls
	ts          time.Time // the message's timestamp
}

type gokaContext = goka.Context

func (c *fakeCtx) Key() string              { return c.key }
func (c *fakeCtx) Partition() int32         { return c.part }
func (c *fakeCtx) Offset() int64            { return c.off }
func (c *fakeCtx) Topic() goka.Stream       { return "in" }
func (c *fakeCtx) Context() context.Context { return c.owner }
func (c *fakeCtx) Timestamp() time.Time     { return c.ts }
func (c *fakeCtx) Value() any {
	b := c.table[c.key]
	if b == nil {
		return nil
	}
	v, err := c.codec.Decode(b)
	if err != nil {
		panic(err)
	}
	return v
}
func (c *fakeCtx) SetValue(v any, _ ...goka.ContextOption) {
	b, err := c.codec.Encode(v)
	if err != nil {
		panic(err)
	}
	c.table[c.key] = b
	c.sets++
}
func (c *fakeCtx) Emit(goka.Stream, string, any, ...goka.ContextOption) { c.emits++ }

func newOwner() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	_ = cancel
	return ctx
}

// messages makes n single-sample binary messages per sensor, round-robin.
func messages(sensors, n, batch int) (keys []string, values [][]byte) {
	gen := emitter.NewGenerator(sensors, 10, emitter.DefaultTheta(10), 0.1, 7)
	for k := 0; k < n; k++ {
		i := k % sensors
		b := make([]codec.Sample, batch)
		for j := range b {
			b[j] = gen.Next(i, make([]float64, 10))
		}
		keys = append(keys, emitter.SensorID(i))
		values = append(values, codec.AppendBinary(nil, b))
	}
	return keys, values
}

func newTestHandler(cache int) *Handler {
	return &Handler{
		Names: topology.Names{}.WithDefaults(), Learner: RLS{Specs: rls.DefaultSpecs()}, CacheSize: cache,
		Now: func() time.Time { return time.UnixMilli(1e12) },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func stored(t *testing.T, c *fakeCtx, key string) *Record {
	t.Helper()
	v, err := c.codec.Decode(c.table[key])
	if err != nil {
		t.Fatal(err)
	}
	return v.(*Record)
}

// TestCacheFollowsPartitionProcessor: a state cached by one partition
// processor is never used once the partition's table may have been written
// by someone else — another partition processor (new goka context) or after
// a rebalance — and it is used otherwise (the negative control shows the
// test would catch a stale cache).
func TestCacheFollowsPartitionProcessor(t *testing.T) {
	keys, values := messages(1, 30, 1)
	specs := rls.DefaultSpecs()
	run := func(h *Handler, c *fakeCtx, from, to int) {
		for k := from; k < to; k++ {
			c.key, c.off = keys[k], int64(k)
			h.Process(c, values[k])
		}
	}
	// want: the state after messages 0..29 applied in order, uncached.
	ref := &fakeCtx{part: 0, owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: RLS{Specs: specs}}}
	run(newTestHandler(-1), ref, 0, 30)
	want := stored(t, ref, "1")
	if want.Samples != 30 {
		t.Fatalf("reference: %d samples", want.Samples)
	}

	for _, tc := range []struct {
		name string
		// back hands the partition back to h after someone else wrote it.
		back  func(h *Handler, c *fakeCtx)
		stale bool
	}{
		{"new partition processor", func(h *Handler, c *fakeCtx) { c.owner = newOwner() }, false},
		{"rebalance", func(h *Handler, c *fakeCtx) { h.Rebalanced(nil) }, false},
		{"negative control: same partition processor", func(h *Handler, c *fakeCtx) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(0)
			c := &fakeCtx{part: 0, owner: newOwner(), table: map[string][]byte{}, codec: ref.codec}
			run(h, c, 0, 10)
			// Messages 10..19 are applied elsewhere (another process had
			// the partition); this table is then recovered from the changelog.
			other := &fakeCtx{part: 0, owner: newOwner(), table: maps.Clone(c.table), codec: ref.codec}
			run(newTestHandler(0), other, 10, 20)
			c.table = other.table
			tc.back(h, c)
			run(h, c, 20, 30)
			got := stored(t, c, "1")
			if tc.stale {
				if got.Samples != 20 {
					t.Fatalf("the cache was not used: %d samples, a stale cache gives 20", got.Samples)
				}
				return
			}
			if got.Samples != want.Samples || got.Offset != want.Offset {
				t.Fatalf("samples %d offset %d, want %d and %d (stale cache?)", got.Samples, got.Offset, want.Samples, want.Offset)
			}
			gb, wb := got.State.(*BankState).Bank, want.State.(*BankState).Bank
			for j := range wb.Models {
				for i := range wb.Models[j].P {
					if gb.Models[j].P[i] != wb.Models[j].P[i] {
						t.Fatalf("model %s P[%d] = %v, want %v", wb.Models[j].Name, i, gb.Models[j].P[i], wb.Models[j].P[i])
					}
				}
			}
		})
	}
}

// againstUncached feeds 200 samples of each of the sensors to hc and to a
// handler without a cache, calls after once per message, and checks that
// both wrote the same states.
func againstUncached(t *testing.T, hc *Handler, sensors int, after func(k int)) {
	t.Helper()
	keys, values := messages(sensors, 200, 3)
	cached := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: RLS{Specs: rls.DefaultSpecs()}}}
	plain := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: cached.codec}
	hp := newTestHandler(-1)
	for k := range keys {
		for _, x := range []struct {
			h *Handler
			c *fakeCtx
		}{{hc, cached}, {hp, plain}} {
			x.c.key, x.c.off, x.c.part = keys[k], int64(k/2), int32(k%2)
			x.h.Process(x.c, values[k])
		}
		after(k)
	}
	for k, b := range plain.table {
		if string(cached.table[k]) != string(b) {
			t.Errorf("sensor %s: the cached handler's state differs from the uncached one's", k)
		}
	}
}

// TestCacheBound: with more sensors than CacheSize the cache stays within
// it and every state is still exact.
func TestCacheBound(t *testing.T) {
	const sensors, limit = 10, 4
	hc := newTestHandler(limit)
	againstUncached(t, hc, sensors, func(k int) {
		if n := hc.cache.n.Load(); n > int64(limit) {
			t.Fatalf("after message %d: %d states cached, limit %d", k, n, limit)
		}
	})
	if n := hc.cache.n.Load(); n != int64(limit) {
		t.Errorf("%d states cached, want the limit %d", n, limit)
	}
}

// TestCacheBytesBound: the cache keeps within its budget of bytes (here
// room for three default banks) whatever the record limit, every state is
// still exact, and a bank is counted for its models' arrays.
func TestCacheBytesBound(t *testing.T) {
	const sensors = 10
	bank := &Record{State: &BankState{Bank: rls.NewBank(rls.DefaultSpecs(), 10)}}
	one := recordBytes(bank)
	if arrays := 2 * 8 * (10 + 100); one < arrays || one > 2*arrays {
		t.Fatalf("recordBytes of a default bank of dimension 10: %d, want about its %d bytes of arrays", one, arrays)
	}
	hc := newTestHandler(1000)
	hc.cache.budget = 3*one + one/2
	againstUncached(t, hc, sensors, func(k int) {
		if b := hc.cache.bytes.Load(); b > int64(hc.cache.budget) {
			t.Fatalf("after message %d: %d bytes cached, budget %d", k, b, hc.cache.budget)
		}
	})
	if n, b := hc.cache.n.Load(), hc.cache.bytes.Load(); n != 3 || b != int64(3*one) {
		t.Errorf("%d states (%d bytes) cached, want 3 (%d bytes)", n, b, 3*one)
	}
}

// BenchmarkProcess is the callback alone (decode, validate, update both
// models, encode the state) over an in-memory table: 64 sensors, n=10, the
// default bank; "nocache" reads and decodes the state from the table on
// every message as goka's ctx.Value does.
func BenchmarkProcess(b *testing.B) {
	for _, bc := range []struct {
		name         string
		batch, cache int
	}{
		{"single", 1, 0},
		{"single/nocache", 1, -1},
		{"batch256", 256, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			keys, values := messages(64, 640, bc.batch)
			h := newTestHandler(bc.cache)
			c := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: RLS{Specs: rls.DefaultSpecs()}}}
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				c.key, c.off = keys[k%len(keys)], int64(k)
				h.Process(c, values[k%len(values)])
				k++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(k*bc.batch), "ns/sample")
		})
	}
}
