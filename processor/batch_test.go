package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/tablestore"
	"github.com/streamrls/streamrls/topology"
)

// fakeProducer records what a batch produces. With hold set, the
// acknowledgements wait until release is called.
type fakeProducer struct {
	mu      sync.Mutex
	hold    bool
	fail    error
	held    []func()
	next    map[string]int64 // next offset per topic
	written map[string][]outMsg
}

func (p *fakeProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *fakeProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next, p.written = map[string]int64{}, map[string][]outMsg{}
	}
	off := p.next[topic]
	p.next[topic]++
	ack := func() {
		if p.fail != nil {
			finish(nil, p.fail)
			return
		}
		p.mu.Lock()
		p.written[topic] = append(p.written[topic], outMsg{topic: topic, key: key, value: value, headers: headers})
		p.mu.Unlock()
		finish(&sarama.ProducerMessage{Topic: topic, Offset: off}, nil)
	}
	if p.hold {
		p.held = append(p.held, ack)
		return promise
	}
	go ack()
	return promise
}

func (p *fakeProducer) Close() error { return nil }

func (p *fakeProducer) release() {
	p.mu.Lock()
	held := p.held
	p.held, p.hold = nil, false
	p.mu.Unlock()
	for _, ack := range held {
		ack()
	}
}

// batchCtx is a goka context of a batching handler: state reads go to the
// partition's local table copy, and every deferred commit is recorded in
// order. With session set, commits are marked in it as goka does: at the
// deferred commit, or as the callback returns if it deferred none.
type batchCtx struct {
	fakeCtx
	store    storage.Storage
	mu       *sync.Mutex
	commits  *[]commitRec
	deferred bool
	session  sarama.ConsumerGroupSession
}

type commitRec struct {
	offset int64
	err    error
}

func (c *batchCtx) Value() any {
	b, err := c.store.Get(c.key)
	if err != nil || b == nil {
		return nil
	}
	v, err := c.codec.Decode(b)
	if err != nil {
		panic(err)
	}
	return v
}

func (c *batchCtx) SetValue(any, ...goka.ContextOption) {
	panic("a batching handler wrote a state outside its batch")
}

func (c *batchCtx) Emit(goka.Stream, string, any, ...goka.ContextOption) {
	panic("a batching handler emitted outside its batch")
}

func (c *batchCtx) DeferCommit() func(error) {
	off, session := c.off, c.session
	c.deferred = true
	return func(err error) {
		c.mu.Lock()
		*c.commits = append(*c.commits, commitRec{off, err})
		c.mu.Unlock()
		if err == nil && session != nil {
			session.MarkOffset(string(c.Topic()), c.part, off+1, "")
		}
	}
}

// batchRig is a batching handler over one partition with a fake producer
// and goka's in-memory storage (or another) as the local table copy.
type batchRig struct {
	h       *Handler
	prod    *fakeProducer
	store   storage.Storage
	ctx     *batchCtx
	cancel  context.CancelFunc
	mu      sync.Mutex
	commits []commitRec
}

func newBatchRig(t testing.TB, interval time.Duration, maxBytes int) *batchRig {
	t.Helper()
	return newBatchRigOn(t, func(string, int32) (storage.Storage, error) { return storage.NewMemory(), nil }, interval, maxBytes)
}

// newBatchRigOn is newBatchRig with the local table copy built by local.
func newBatchRigOn(t testing.TB, local storage.Builder, interval time.Duration, maxBytes int) *batchRig {
	t.Helper()
	r := &batchRig{prod: &fakeProducer{}}
	stores := new(tablestore.Stores)
	names := topology.Names{}.WithDefaults()
	st, err := stores.Track(local)(names.Table(), 0)
	if err != nil {
		t.Fatal(err)
	}
	r.store = st
	r.h = newTestHandler(0)
	codec := TableCodec{Learner: r.h.Learner}
	r.h.batches = &batchWriter{table: names.Table(), producer: r.prod, stores: stores, codec: codec, counts: r.h.counts(),
		interval: interval, maxBytes: maxBytes, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}
	owner, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(func() {
		cancel()
		r.prod.release()
		r.h.batches.wait()
		st.Close()
	})
	r.ctx = &batchCtx{fakeCtx: fakeCtx{owner: owner, codec: codec}, store: st, mu: &r.mu, commits: &r.commits}
	return r
}

// batch is the rig's partition's open batch.
func (r *batchRig) batch() *partBatch { return r.h.cache.load(0).batch.(*partBatch) }

func (r *batchRig) process(key string, off int64, value []byte) {
	r.ctx.key, r.ctx.off, r.ctx.deferred = key, off, false
	r.h.Process(r.ctx, value)
	if !r.ctx.deferred && r.ctx.session != nil {
		r.ctx.session.MarkOffset(string(r.ctx.Topic()), r.ctx.part, off+1, "")
	}
}

// markSession records the offsets marked in a consumer group session.
type markSession struct {
	sarama.ConsumerGroupSession
	mu    sync.Mutex
	marks []int64
}

func (s *markSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, offset)
}

// last is the newest mark (0, the partition's first message, for none).
func (s *markSession) last() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marks) == 0 {
		return 0
	}
	return s.marks[len(s.marks)-1]
}

// gated gives the rig's handler a commit gate: goka's marks go through it
// into the returned session.
func (r *batchRig) gated() *markSession {
	gate := exactlyonce.NewCommitGate()
	ms := &markSession{}
	r.h.batches.gate, r.ctx.session = gate, gate.Session(ms)
	return ms
}

func (r *batchRig) committed() []commitRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commitRec(nil), r.commits...)
}

// TestBatchEqualsPerMessage: whatever the batch boundaries, the states a
// batching handler leaves in the table — locally and on the changelog — are
// byte for byte those of the handler that writes every message's state, and
// every message is committed once, in offset order, without error.
func TestBatchEqualsPerMessage(t *testing.T) {
	keys, values := messages(16, 800, 1)
	ref := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: RLS{Specs: rls.DefaultSpecs()}}}
	hr := newTestHandler(0)
	for k := range keys {
		ref.key, ref.off = keys[k], int64(k)
		hr.Process(ref, values[k])
	}
	for _, tc := range []struct {
		name     string
		maxBytes int
		flushAt  int // flush by hand every flushAt messages (0: never)
	}{
		{"one batch", DefaultBatchMaxBytes, 0},
		{"by hand every 37 messages", DefaultBatchMaxBytes, 37},
		{"full every few hundred messages", 40000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBatchRig(t, time.Hour, tc.maxBytes)
			for k := range keys {
				r.process(keys[k], int64(k), values[k])
				if tc.flushAt > 0 && (k+1)%tc.flushAt == 0 {
					r.batch().flush(false)
				}
			}
			r.batch().flush(false)
			for key, want := range ref.table {
				got, err := r.store.Get(key)
				if err != nil || string(got) != string(want) {
					t.Errorf("sensor %s: local table copy differs from the per-message state (err %v)", key, err)
				}
				var last []byte
				for _, m := range r.prod.written[r.h.batches.table] {
					if m.key == key {
						last = m.value
					}
				}
				if string(last) != string(want) {
					t.Errorf("sensor %s: last changelog record differs from the per-message state", key)
				}
			}
			got := r.committed()
			if len(got) != len(keys) {
				t.Fatalf("%d commits, want %d", len(got), len(keys))
			}
			for i, c := range got {
				if c.offset != int64(i) || c.err != nil {
					t.Fatalf("commit %d: offset %d err %v, want offset %d and no error", i, c.offset, c.err, i)
				}
			}
			writes := len(r.prod.written[r.h.batches.table])
			if writes >= len(keys) {
				t.Errorf("%d state writes for %d messages: no batching", writes, len(keys))
			}
			if tc.flushAt == 0 && tc.maxBytes == DefaultBatchMaxBytes && writes != len(ref.table) {
				t.Errorf("one batch wrote %d states, want one per sensor (%d)", writes, len(ref.table))
			}
		})
	}
}

// TestBatchCommitsAfterAcks: no message of a batch is committed before
// Kafka has acknowledged every record of its batch, and the table offset
// stored with the local copy is the newest acknowledged one.
func TestBatchCommitsAfterAcks(t *testing.T) {
	keys, values := messages(4, 40, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	r.prod.hold = true
	for k := range keys {
		r.process(keys[k], int64(k), values[k])
	}
	pb := r.batch()
	done := make(chan struct{})
	go func() { pb.flush(false); close(done) }()
	time.Sleep(50 * time.Millisecond)
	if n := len(r.committed()); n != 0 {
		t.Fatalf("%d messages committed before their batch was acknowledged", n)
	}
	if off, _ := r.store.GetOffset(-7); off != -7 {
		t.Fatalf("table offset %d stored before the acknowledgements", off)
	}
	r.prod.release()
	<-done
	if n := len(r.committed()); n != len(keys) {
		t.Fatalf("%d of %d messages committed after the acknowledgements", n, len(keys))
	}
	if off, _ := r.store.GetOffset(-7); off != 3 {
		t.Errorf("table offset %d, want 3 (four sensors, one write each)", off)
	}
}

// TestBatchGate: with a commit gate only a batch's first message defers
// its commit; goka marks the others at once, but no mark passes the first
// message of a batch Kafka has not acknowledged — also while the next
// batch fills — and once it has, the marks reach that next batch's first
// message, then the last message.
func TestBatchGate(t *testing.T) {
	keys, values := messages(4, 30, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	ms := r.gated()
	r.prod.hold = true
	for k := range 10 {
		r.process(keys[k], int64(k), values[k])
	}
	pb := r.batch()
	done := make(chan struct{})
	go func() { pb.flush(false); close(done) }()
	testkit.Eventually(t, 5*time.Second, func() error {
		pb.mu.Lock()
		defer pb.mu.Unlock()
		if pb.messages != 0 {
			return errors.New("the first batch is not cut yet")
		}
		return nil
	})
	for k := 10; k < 20; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	if got := ms.last(); got != 0 {
		t.Fatalf("marked %d before the first batch (messages 0–9) was acknowledged, want 0", got)
	}
	r.prod.release()
	<-done
	if got := ms.last(); got != 10 {
		t.Fatalf("marked %d after the first batch was acknowledged, want 10 (the second batch's first message)", got)
	}
	pb.flush(false)
	if got := ms.last(); got != 20 {
		t.Fatalf("marked %d after the second batch, want 20", got)
	}
	for k := 20; k < 30; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	pb.flush(false)
	if got := ms.last(); got != 30 {
		t.Fatalf("marked %d after the last batch, want 30", got)
	}
	if s := fmt.Sprint(r.committed()); s != fmt.Sprint([]commitRec{{0, nil}, {10, nil}, {20, nil}}) {
		t.Errorf("deferred commits %s, want the first message of each batch", s)
	}
}

// TestBatchGateFailure: after a batch Kafka refuses, nothing at or after its
// first message is marked, whatever later batches do.
func TestBatchGateFailure(t *testing.T) {
	keys, values := messages(4, 20, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	ms := r.gated()
	for k := range 5 {
		r.process(keys[k], int64(k), values[k])
	}
	pb := r.batch()
	pb.flush(false)
	r.prod.fail = errors.New("broker gone")
	for k := 5; k < 12; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	pb.flush(false)
	r.prod.fail = nil
	for k := 12; k < 20; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	pb.flush(false)
	if got := ms.last(); got != 5 {
		t.Errorf("marked %d, want 5 (the failed batch's first message)", got)
	}
	for _, c := range r.committed() {
		if c.offset >= 5 && c.err == nil {
			t.Errorf("message %d committed without error after its partition's batch failed", c.offset)
		}
	}
}

// TestBatchFailure: a batch Kafka refuses fails every commit of it and of
// every later batch (goka then stops the processor; the messages are
// redelivered), and nothing is committed without error.
func TestBatchFailure(t *testing.T) {
	keys, values := messages(4, 20, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	r.prod.fail = errors.New("broker gone")
	for k := 0; k < 10; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	pb := r.batch()
	pb.flush(false)
	r.prod.fail = nil
	for k := 10; k < 20; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	pb.flush(false)
	got := r.committed()
	if len(got) != 20 {
		t.Fatalf("%d commits, want 20", len(got))
	}
	for _, c := range got {
		if c.err == nil {
			t.Fatalf("message %d committed without error after its partition's batch failed", c.offset)
		}
	}
}

// TestBatchEndsWhenPartitionStops: when goka stops the partition processor
// (its context ends) the open batch is written, and a message whose
// callback was still running writes its own batch before it returns — so
// goka, which waits for every deferred commit, never waits in vain.
func TestBatchEndsWhenPartitionStops(t *testing.T) {
	keys, values := messages(3, 10, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	for k := 0; k < 9; k++ {
		r.process(keys[k], int64(k), values[k])
	}
	r.cancel()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.committed()) < 9 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 9 messages committed after the partition stopped", len(r.committed()))
		}
		time.Sleep(time.Millisecond)
	}
	r.process(keys[9], 9, values[9])
	if got := r.committed(); len(got) != 10 || got[9].offset != 9 || got[9].err != nil {
		t.Fatalf("a message after the stop is not committed when its callback returns: %v", got)
	}
}

// TestBatchInterval: with a short interval the batch ends by itself.
func TestBatchInterval(t *testing.T) {
	keys, values := messages(2, 4, 1)
	r := newBatchRig(t, 20*time.Millisecond, DefaultBatchMaxBytes)
	for k := range keys {
		r.process(keys[k], int64(k), values[k])
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.committed()) < len(keys) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages committed 5s after the last, interval 20ms", len(r.committed()), len(keys))
		}
		time.Sleep(time.Millisecond)
	}
	if s := fmt.Sprint(r.committed()); s != fmt.Sprint([]commitRec{{0, nil}, {1, nil}, {2, nil}, {3, nil}}) {
		t.Errorf("commits %s", s)
	}
}

// fixedEnd is a partition's input that ends before offset (-1: unknown).
type fixedEnd int64

func (e fixedEnd) HighWaterMark(string, int32) (int64, bool) { return int64(e), e >= 0 }

// TestBatchCatchingUp: the rule that keeps a batch open past a tick.
func TestBatchCatchingUp(t *testing.T) {
	now := time.Now()
	behind := func(pb *partBatch) {
		pb.opened, pb.lastArrival, pb.newest = now.Add(-time.Second), now.Add(-10*time.Millisecond), now.Add(-time.Minute)
		pb.messages = 100
		pb.applied = 100
		pb.last = position{"in", 99}
		pb.dirty = map[string]int{}
		for i := range 100 / 2 {
			pb.dirty[strconv.Itoa(i)] = i
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*partBatch, *batchWriter)
		want bool
	}{
		{"behind, 2 samples per sensor", func(*partBatch, *batchWriter) {}, true},
		{"behind, dense enough", func(pb *partBatch, _ *batchWriter) { pb.applied = 400 }, false},
		{"dense by messages (rejected samples count too)", func(pb *partBatch, _ *batchWriter) {
			pb.applied, pb.messages = 0, 400
		}, false},
		{"keeping up", func(pb *partBatch, _ *batchWriter) { pb.newest = now.Add(-50 * time.Millisecond) }, false},
		{"input paused", func(pb *partBatch, _ *batchWriter) { pb.lastArrival = now.Add(-catchUpQuiet) }, false},
		{"open for the max interval", func(pb *partBatch, _ *batchWriter) { pb.opened = now.Add(-5 * time.Second) }, false},
		{"max interval, half the batch's messages left to read", func(pb *partBatch, w *batchWriter) {
			pb.opened, w.ends = now.Add(-5*time.Second), fixedEnd(pb.last.offset+1+50)
		}, true},
		{"max interval, more than half left", func(pb *partBatch, w *batchWriter) {
			pb.opened, w.ends = now.Add(-5*time.Second), fixedEnd(pb.last.offset+1+51)
		}, false},
		{"max interval, end unknown", func(pb *partBatch, w *batchWriter) {
			pb.opened, w.ends = now.Add(-5*time.Second), fixedEnd(-1)
		}, false},
		{"half past the max interval, a little left to read", func(pb *partBatch, w *batchWriter) {
			pb.opened, w.ends = now.Add(-7500*time.Millisecond), fixedEnd(pb.last.offset+2)
		}, false},
		{"just under half past the max interval", func(pb *partBatch, w *batchWriter) {
			pb.opened, w.ends = now.Add(-7499*time.Millisecond), fixedEnd(pb.last.offset+2)
		}, true},
		{"no timestamps", func(pb *partBatch, _ *batchWriter) { pb.newest = time.Time{} }, true},
		{"more to read", func(pb *partBatch, w *batchWriter) { w.ends = fixedEnd(pb.last.offset + 2) }, true},
		{"read all there is", func(pb *partBatch, w *batchWriter) { w.ends = fixedEnd(pb.last.offset + 1) }, false},
		{"end unknown", func(pb *partBatch, w *batchWriter) { w.ends = fixedEnd(-1) }, true},
		{"empty", func(pb *partBatch, _ *batchWriter) { pb.messages = 0 }, false},
		{"growing off by density", func(_ *partBatch, w *batchWriter) { w.density = 1 }, false},
		{"growing off by max interval", func(_ *partBatch, w *batchWriter) { w.maxInterval = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &batchWriter{interval: 100 * time.Millisecond, maxInterval: 5 * time.Second, density: 8}
			pb := &partBatch{w: w}
			behind(pb)
			tc.edit(pb, w)
			if got := pb.catchingUp(now); got != tc.want {
				t.Errorf("catchingUp = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBatchGrowsWhileBehind: messages produced long ago that keep coming
// fill a batch up to the density (18 rounds over 32 sensors, density 4:
// 5 batches of one write per sensor, where a batch per interval writes
// every sensor every round); the states equal the per-message ones, every
// message is committed in order, and the last batch, 2 rounds, is written
// once the input pauses, not after the max interval.
func TestBatchGrowsWhileBehind(t *testing.T) {
	const sensors, rounds, density = 32, 18, 4
	keys, values := messages(sensors, sensors*rounds, 1)
	ref := &fakeCtx{owner: newOwner(), table: map[string][]byte{}, codec: TableCodec{Learner: RLS{Specs: rls.DefaultSpecs()}}}
	hr := newTestHandler(0)
	for k := range keys {
		ref.key, ref.off = keys[k], int64(k)
		hr.Process(ref, values[k])
	}
	run := func(ts time.Time) (writes int, r *batchRig) {
		r = newBatchRig(t, 2*time.Millisecond, DefaultBatchMaxBytes)
		r.h.batches.maxInterval, r.h.batches.density = time.Hour, density
		r.ctx.ts = ts
		for k := range keys {
			r.process(keys[k], int64(k), values[k])
			if (k+1)%sensors == 0 {
				time.Sleep(20 * time.Millisecond) // ten ticks between rounds
			}
		}
		deadline := time.Now().Add(catchUpQuiet + 10*time.Second)
		for len(r.committed()) < len(keys) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d messages committed %v after the last (max interval 1h)", len(r.committed()), len(keys), catchUpQuiet+10*time.Second)
			}
			time.Sleep(time.Millisecond)
		}
		r.prod.mu.Lock()
		defer r.prod.mu.Unlock()
		return len(r.prod.written[r.h.batches.table]), r
	}
	grown, r := run(time.Now().Add(-time.Hour))
	if limit := len(keys)/density + sensors; grown > limit {
		t.Errorf("behind: %d state writes for %d messages over %d sensors, want ≤ %d (density %d)", grown, len(keys), sensors, limit, density)
	}
	for i, c := range r.committed() {
		if c.offset != int64(i) || c.err != nil {
			t.Fatalf("commit %d: offset %d err %v, want offset %d and no error", i, c.offset, c.err, i)
		}
	}
	for key, want := range ref.table {
		if got, err := r.store.Get(key); err != nil || string(got) != string(want) {
			t.Errorf("sensor %s: local table copy differs from the per-message state (err %v)", key, err)
		}
	}
	keepingUp, _ := run(time.Now().Add(time.Hour))
	t.Logf("state writes: %d behind, %d keeping up, for %d messages", grown, keepingUp, len(keys))
	if keepingUp < 2*grown {
		t.Errorf("keeping up: %d state writes, behind %d: want batches that end every interval", keepingUp, grown)
	}
}

// BenchmarkProcessBatched is BenchmarkProcess's single-sample case with
// batches: the callback, plus one batch write (encode, local copy, a fake
// producer that acknowledges at once) every 1,000 messages.
func BenchmarkProcessBatched(b *testing.B) {
	keys, values := messages(64, 640, 1)
	r := newBatchRig(b, time.Hour, DefaultBatchMaxBytes)
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		r.process(keys[k%len(keys)], int64(k), values[k%len(values)])
		k++
		if k%1000 == 0 {
			r.batch().flush(false)
			r.mu.Lock()
			r.commits = r.commits[:0]
			r.mu.Unlock()
		}
	}
}

// BenchmarkProcessSensors is what many sensors cost the processor without
// Kafka: 2,000,000 single-sample messages over 64 sensors, and over
// 100,000 (20 each), through one partition's handler with a commit gate,
// the processor's local storage and a producer that acknowledges at once,
// in one batch written at the end — what `streamrls bench --phases p` runs
// through the broker. "100000-sensor-order" sends each sensor's samples back
// to back instead of round-robin: the difference is what reading every
// state from memory instead of the CPU's caches costs.
func BenchmarkProcessSensors(b *testing.B) {
	const n = 2000000
	for _, c := range []struct {
		name        string
		sensors     int
		sensorOrder bool
	}{{"64", 64, false}, {"100000", 100000, false}, {"100000-sensor-order", 100000, true}} {
		b.Run(c.name, func(b *testing.B) {
			keys, values := messages(c.sensors, n, 1)
			order := make([]int, n)
			for i := range order {
				order[i] = i
				if c.sensorOrder { // message k is sample k/sensors of sensor k%sensors
					per := n / c.sensors
					order[i] = i%per*c.sensors + i/per
				}
			}
			for b.Loop() {
				r := newBatchRigOn(b, tablestore.StorageBuilder(b.TempDir()), time.Hour, 1<<40)
				gate := exactlyonce.NewCommitGate()
				r.h.batches.gate, r.ctx.session = gate, gate.Session(discardMarks{})
				for off, k := range order {
					r.process(keys[k], int64(off), values[k])
				}
				r.batch().flush(false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
}

// discardMarks is a consumer group session that forgets its marks.
type discardMarks struct{ sarama.ConsumerGroupSession }

func (discardMarks) MarkOffset(string, int32, int64, string) {}

// TestBatchTombstoneDeletes: with Tombstones delete a null value deletes
// the sensor — a tombstone is its last changelog record and the local copy
// forgets it — and a later sample starts it afresh.
func TestBatchTombstoneDeletes(t *testing.T) {
	keys, values := messages(1, 3, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	r.h.Tombstones = TombstonesDelete
	r.process(keys[0], 0, values[0])
	r.process(keys[1], 1, values[1])
	r.batch().flush(false)
	r.ctx.key, r.ctx.off = keys[0], 2
	r.h.Process(r.ctx, nil)
	pb := r.batch()
	pb.flush(false)
	table := r.prod.written[r.h.batches.table]
	if last := table[len(table)-1]; last.key != keys[0] || last.value != nil {
		t.Fatalf("last changelog record %q = %d bytes, want a tombstone of %q", last.key, len(last.value), keys[0])
	}
	if b, _ := r.store.Get(keys[0]); b != nil {
		t.Fatal("the local copy still holds the deleted sensor")
	}
	r.process(keys[2], 3, values[2])
	pb.flush(false)
	b, _ := r.store.Get(keys[0])
	v, err := r.h.batches.codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec := v.(*Record); rec.Samples != 1 {
		t.Errorf("after the delete the sensor has %d samples, want 1 (a fresh start)", rec.Samples)
	}
	if n := r.h.counts().Deleted.Load(); n != 1 {
		t.Errorf("%d deletions counted, want 1", n)
	}
}

// TestBatchTombstoneWithinBatch: a sensor updated, deleted and updated
// again within one batch is written once, as the fresh state of the last
// sample, and the other sensors of the batch in the order of their first
// update.
func TestBatchTombstoneWithinBatch(t *testing.T) {
	keys, values := messages(3, 4, 1) // sensors 1, 2, 3, 1
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	r.h.Tombstones = TombstonesDelete
	r.process(keys[0], 0, values[0])
	r.process(keys[1], 1, values[1])
	r.ctx.key, r.ctx.off = keys[0], 2
	r.h.Process(r.ctx, nil)
	r.process(keys[2], 3, values[2])
	r.process(keys[3], 4, values[3])
	pb := r.batch()
	pb.writeMu.Lock()
	c := pb.cut(false)
	pb.write(c)
	pb.writeMu.Unlock()
	var got []string
	for _, m := range c.table {
		got = append(got, m.key)
		if m.value == nil {
			t.Fatalf("sensor %s: a tombstone in the batch, want its fresh state", m.key)
		}
	}
	if want := []string{keys[1], keys[2], keys[0]}; !slices.Equal(got, want) {
		t.Fatalf("states written for %q, want %q", got, want)
	}
	b, _ := r.store.Get(keys[0])
	v, err := r.h.batches.codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec := v.(*Record); rec.Samples != 1 || rec.Offset != 4 {
		t.Errorf("sensor %s after its delete: %d samples up to offset %d, want 1 up to 4", keys[0], rec.Samples, rec.Offset)
	}
}

// TestBatchIdleSweep: a sweep deletes the sensors whose last message is
// older than the idle TTL and keeps the others, also one updated in the
// open batch.
func TestBatchIdleSweep(t *testing.T) {
	keys, values := messages(3, 3, 1) // sensors 1, 2, 3
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	now := time.UnixMilli(1e12)
	r.h.Now = func() time.Time { return now }
	r.h.batches.now, r.h.batches.idleTTL = r.h.now, time.Hour
	r.process(keys[0], 0, values[0])
	r.process(keys[1], 1, values[1])
	now = now.Add(2 * time.Hour)
	r.process(keys[2], 2, values[2])
	pb := r.batch()
	pb.flush(false)
	r.process(keys[1], 3, values[1]) // sensor 2 again, in the open batch
	if err := pb.sweep(); err != nil {
		t.Fatal(err)
	}
	pb.flush(false)
	for _, c := range []struct {
		key  string
		kept bool
	}{{keys[0], false}, {keys[1], true}, {keys[2], true}} {
		if b, _ := r.store.Get(c.key); (b != nil) != c.kept {
			t.Errorf("sensor %s: kept %v, want %v", c.key, b != nil, c.kept)
		}
	}
	if n := r.h.counts().Deleted.Load(); n != 1 {
		t.Errorf("%d deletions, want 1", n)
	}
}

// TestBatchIdleSensorWakesUp: a message for a sensor marked idle before
// the batch ends keeps the sensor and its state.
func TestBatchIdleSensorWakesUp(t *testing.T) {
	keys, values := messages(1, 2, 1)
	r := newBatchRig(t, time.Hour, DefaultBatchMaxBytes)
	now := time.UnixMilli(1e12)
	r.h.Now = func() time.Time { return now }
	r.h.batches.now, r.h.batches.idleTTL = r.h.now, time.Hour
	r.process(keys[0], 0, values[0])
	pb := r.batch()
	pb.flush(false)
	now = now.Add(2 * time.Hour)
	if err := pb.sweep(); err != nil {
		t.Fatal(err)
	}
	r.process(keys[1], 1, values[1])
	pb.flush(false)
	b, _ := r.store.Get(keys[0])
	if b == nil {
		t.Fatal("a sensor that sent a message before its batch ended was deleted")
	}
	v, _ := r.h.batches.codec.Decode(b)
	if rec := v.(*Record); rec.Samples != 2 {
		t.Errorf("%d samples, want 2 (its state kept)", rec.Samples)
	}
	if n := r.h.counts().Deleted.Load(); n != 0 {
		t.Errorf("%d deletions counted, want 0", n)
	}
}

// blockingStore is a local table copy whose first Set waits until release
// is closed; entered is closed when it starts waiting.
type blockingStore struct {
	storage.Storage
	once             sync.Once
	entered, release chan struct{}
}

func (s *blockingStore) Set(key string, value []byte) error {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.Storage.Set(key, value)
}

// TestBatchLocalWriteConcurrent: while a batch's states are being put into
// the local copy, the partition's messages go on, and one that reads a
// state of that batch (evicted from the cache) gets it.
func TestBatchLocalWriteConcurrent(t *testing.T) {
	keys, values := messages(3, 4, 1) // sensors 1, 2, 3, 1
	st := &blockingStore{Storage: storage.NewMemory(), entered: make(chan struct{}), release: make(chan struct{})}
	r := newBatchRigOn(t, func(string, int32) (storage.Storage, error) { return st, nil }, time.Hour, DefaultBatchMaxBytes)
	r.process(keys[0], 0, values[0])
	r.process(keys[1], 1, values[1])
	pb := r.batch()
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		pb.flush(false)
	}()
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch's local write did not start")
	}
	r.h.cache.drop(r.h.cache.load(0), keys[0]) // sensor 1 must now come from the batch being written
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.process(keys[2], 2, values[2])
		r.process(keys[3], 3, values[3])
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(st.release)
		t.Fatal("messages waited for the local write of the previous batch")
	}
	close(st.release)
	<-flushed
	pb.flush(false)
	b, err := r.store.Get(keys[0])
	if err != nil || b == nil {
		t.Fatalf("sensor %s: %v, no state in the local copy", keys[0], err)
	}
	v, err := r.h.batches.codec.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec := v.(*Record); rec.Samples != 2 || rec.Offset != 3 {
		t.Errorf("sensor %s: %d samples up to offset %d, want 2 up to 3", keys[0], rec.Samples, rec.Offset)
	}
}

// TestLocalCopyHoldsABatch: the processor's local copy buffers a whole
// batch of states without a LevelDB write half-way, whatever
// --batch-max-bytes, and its total bound is never below one batch.
func TestLocalCopyHoldsABatch(t *testing.T) {
	for _, maxBytes := range []int{0, 1 << 20, 1 << 30} {
		cfg := Config{BatchMaxBytes: maxBytes}.withDefaults()
		o := localCopyOptions(cfg, nil)
		if o.MaxPending < cfg.BatchMaxBytes || o.MaxPendingTotal < cfg.BatchMaxBytes {
			t.Errorf("--batch-max-bytes %d: MaxPending %d, MaxPendingTotal %d; a batch holds up to %d",
				maxBytes, o.MaxPending, o.MaxPendingTotal, cfg.BatchMaxBytes)
		}
		if o.FlushInterval <= tablestore.DefaultStorageFlush {
			t.Errorf("FlushInterval %v: not longer than the storage's default", o.FlushInterval)
		}
	}
}
