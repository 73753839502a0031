package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/exactlyonce"
	"github.com/streamrls/streamrls/tablestore"
)

// Defaults of Config.BatchInterval, Config.BatchMaxBytes,
// Config.BatchMaxInterval and Config.BatchDensity.
const (
	// DefaultBatchInterval is how long a partition's batch stays open: the
	// latency a sample's state write gains, for one write per sensor per
	// interval instead of one per message.
	DefaultBatchInterval = 100 * time.Millisecond
	// DefaultBatchMaxBytes ends a partition's batch early once the states
	// and outputs waiting in it reach this size, so that memory stays
	// bounded whatever the number of sensors.
	DefaultBatchMaxBytes = 64 << 20
	// DefaultBatchMaxInterval bounds how long a batch stays open while the
	// processor catches up (see catchingUp): a few seconds of extra
	// latency only for a processor that is behind anyway.
	DefaultBatchMaxInterval = 5 * time.Second
	// DefaultBatchDensity is the samples per updated sensor a catching-up
	// batch waits for: with many sensors a batch of one interval holds
	// about one sample of each, and writing a state, many times a sample's
	// size, per sample is then most of the work. maxInterval and maxBytes
	// still end the batch first when the sensors are many.
	DefaultBatchDensity = 32
)

// batchMessageBytes is what one message costs a batch besides its outputs
// (its place in the batch's bookkeeping), for the BatchMaxBytes bound.
const batchMessageBytes = 64

// msgBatch is a batch of one message (--batch-interval 0): its writes go
// straight to goka's context, the state pinned to the input partition, and
// goka commits the message once they are acknowledged. So every message
// writes its sensor's state, rejected ones too (statePerMessage): all of a
// partition's acknowledgements then arrive in order on one changelog
// partition, and goka never commits past a message whose state is
// unwritten (docs/design.md).
type msgBatch struct {
	// pin pins a table write to the input partition; a slice, so passing
	// it on with ... does not allocate.
	pin    []goka.ContextOption
	counts *Counts
	health *Health
}

func (*msgBatch) begin() {}

// end counts the message's samples as written: handed to goka.
func (mb *msgBatch) end(_ goka.Context, applied int) {
	mb.counts.Written.Add(uint64(applied))
	mb.health.settle(1, nil)
}

// lookup knows no sensor: a batch of one holds nothing before its message.
func (*msgBatch) lookup(string) (*Record, bool, error) { return nil, false, nil }

func (mb *msgBatch) set(ctx goka.Context, _ string, rec *Record) {
	ctx.SetValue(rec, mb.pin...)
	mb.counts.StateWrites.Add(1)
	mb.counts.StateBytes.Add(uint64(rec.size))
}

func (mb *msgBatch) del(ctx goka.Context, _ string) { ctx.Delete(mb.pin...) }

func (*msgBatch) emit(ctx goka.Context, topic, key string, value []byte, headers goka.Headers) {
	if headers == nil {
		ctx.Emit(goka.Stream(topic), key, value)
		return
	}
	ctx.Emit(goka.Stream(topic), key, value, goka.WithCtxEmitHeaders(headers))
}

func (*msgBatch) statePerMessage() bool { return true }

// A timed batch (partBatch) is the messages one partition processor
// received in one batch interval. Their samples are applied to the
// in-memory states as they arrive, as in a batch of one; what changes is
// when the results leave. The batch's first message holds the group's
// committed offset of its partition at itself (gate.Hold) and hands its
// commit back to goka (ctx.DeferCommit); goka marks the later messages as
// their callbacks return, and the gate keeps those marks back. When the
// batch ends, every sensor it updated is encoded once and written, pinned
// to the input partition, to the changelog and to the local table copy,
// after the batch's dead letters and snapshots; once Kafka has acknowledged
// all of them and the local copy holds the states, the table offset is
// stored, the hold is released and the first message's commit completed
// (see produce). Without a gate every message defers its commit, and the
// commits are completed in offset order. So no input offset is committed
// before the state that holds its message is on the changelog: after a
// crash the messages of unacknowledged batches are redelivered and the
// state's own offset (Record.Offset) skips those already in it.
//
// With transactions (batchWriter.txns, the default) a batch is one Kafka
// transaction holding its records and its input offsets (see produceTxn):
// goka's marks are dropped, so there is no gate: the batch's first message
// of each topic still defers its commit, which keeps goka from closing the
// table before the batch is written. The design record (docs/design.md,
// "Exactly once in effect" and "Micro-batches") has the whole argument.
//
// goka has no timers, so a goroutine per partition processor ends a batch
// every interval; the callback ends it at once when it is full, and when
// goka stops the partition processor (shutdown, rebalance) the open batch
// is written before goka closes the table: goka waits for every deferred
// commit before it does.
type batchWriter struct {
	table    string // the table topic
	producer goka.Producer
	// txns, when set, writes each batch in a transaction of its own, with
	// its input offsets, instead of producer and gate (see produceTxn).
	txns     *exactlyonce.Transactions
	stores   *tablestore.Stores
	codec    TableCodec
	interval time.Duration
	maxBytes int
	// maxInterval > interval and density > 1 let a catching-up batch grow
	// (see catchingUp).
	maxInterval time.Duration
	density     int
	counts      *Counts
	metrics     *Metrics // nil: none
	// gate holds the group's marks behind each batch's first message
	// (nil: without txns, every message defers its commit instead).
	gate *exactlyonce.CommitGate
	// ends tell a batch that its processor has read all its input (nil:
	// only a pause in the input does).
	ends inputEnds
	log  *slog.Logger
	// idleTTL > 0 deletes a sensor that has had no message for that long
	// (see sweep); now is the clock of it.
	idleTTL time.Duration
	now     func() time.Time
	// forget drops a deleted sensor from the handler's decoded-state cache.
	forget func(p int32, key string)
	// health counts the batches' messages written or failed (nil: none).
	health  *Health
	infoLog sampledLog
	running sync.WaitGroup // the partitions' batch goroutines
}

// dirtyState is a sensor's state waiting in a batch.
type dirtyState struct {
	key string
	rec *Record
}

// inputEnds says where a partition's input ends: the offset after its
// newest message, false when unknown (exactlyonce.Claims).
type inputEnds interface {
	HighWaterMark(topic string, partition int32) (int64, bool)
}

// wait returns once every partition's last batch is written.
func (w *batchWriter) wait() { w.running.Wait() }

// outMsg is one record a batch produces.
type outMsg struct {
	topic   string
	key     string
	value   []byte
	headers goka.Headers
}

// partBatch is the open batch of one partition processor.
type partBatch struct {
	w     *batchWriter
	p     int32
	store storage.Storage
	pin   goka.Headers

	// mu is held by the callback while it reads and updates a sensor, by
	// cut, and by setLocal to clear inflight once the local copy has it.
	mu sync.Mutex
	// dirty are the sensors the batch updated, at their place in updated,
	// which keeps them in the order of their first update (rec nil: deleted
	// since). cut encodes them in that order: for new sensors the order
	// their states were allocated in, a walk through memory the CPU's
	// prefetchers follow, where a map's order is random and at many
	// sensors every state a wait on memory.
	dirty   map[string]int
	updated []dirtyState
	// deletes are the sensors to delete at the batch's end: true for a
	// tombstone, false for an idle sensor (a message before the end keeps it).
	deletes map[string]bool
	// inflight holds the states of the batch being written until they are
	// in the local copy: a sensor that left the cache meanwhile is read
	// from here (nil: being deleted).
	inflight map[string][]byte
	outs     []outMsg
	commits  []func(error)        // deferred: the first message's with a gate, else every message's
	holds    []position           // the gate's holds of the batch, one per input topic
	nexts    []exactlyonce.Offset // the offset after the batch's newest message, per input topic
	last     position             // the newest message
	messages int
	applied  uint64 // samples applied by the batch's messages
	bytes    int
	closed   bool // the partition processor stopped: the callback writes at once
	// opened is when the batch's first message arrived, newest the newest
	// message timestamp in it and lastArrival when its last message came:
	// what catchingUp decides on.
	opened      time.Time
	newest      time.Time
	lastArrival time.Time

	// writeMu orders the writes: a batch is cut and written under it, so
	// batches reach Kafka and commit in the order of their messages.
	writeMu sync.Mutex
	failed  error // a write failed; every later batch fails with it
}

// newPartBatch starts the batch of partition p of the partition processor
// whose context is owner. It returns an error when the partition has no
// local table copy (a programming error of the processor's wiring).
func (w *batchWriter) newPartBatch(owner context.Context, p int32, pin goka.Headers) (*partBatch, error) {
	st := w.stores.Get(w.table, p)
	if st == nil {
		return nil, fmt.Errorf("no local table copy of %s/%d", w.table, p)
	}
	pb := &partBatch{w: w, p: p, store: st, pin: pin, dirty: map[string]int{}, deletes: map[string]bool{}}
	w.running.Add(1)
	go func() {
		defer w.running.Done()
		pb.run(owner)
	}()
	return pb, nil
}

// run ends a batch every interval until owner ends, then writes the open
// batch and marks the partition closed.
func (pb *partBatch) run(owner context.Context) {
	t := time.NewTicker(pb.w.interval)
	defer t.Stop()
	var sweep <-chan time.Time
	if pb.w.idleTTL > 0 {
		st := time.NewTicker(sweepEvery(pb.w.idleTTL))
		defer st.Stop()
		sweep = st.C
	}
	for {
		select {
		case <-owner.Done():
			pb.flush(true)
			return
		case <-t.C:
			if !pb.catchingUp(pb.w.now()) {
				pb.flush(false)
			}
		case <-sweep:
			if err := pb.sweep(); err != nil {
				pb.w.log.Error("idle sensors not swept", "partition", pb.p, "err", err)
			}
		}
	}
}

// sweepEvery is how often a partition looks for idle sensors: a quarter of
// the TTL, so a sensor goes at most 1.25 TTL after its last message, but
// not more often than every second nor less often than every minute.
func sweepEvery(ttl time.Duration) time.Duration { return min(max(ttl/4, time.Second), time.Minute) }

// sweep marks for deletion every sensor of the partition whose last
// message is older than the idle TTL. It reads the local copy, one pass in
// the background; a sensor updated meanwhile is kept.
func (pb *partBatch) sweep() error {
	limit := pb.w.now().Add(-pb.w.idleTTL).UnixMilli()
	it, err := pb.store.Iterator()
	if err != nil {
		return err
	}
	defer it.Release()
	var idle []string
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return err
		}
		meta, _, err := codec.SplitEnvelope(v)
		if err != nil {
			return fmt.Errorf("sensor %q: %w", it.Key(), err)
		}
		if meta.Updated < limit {
			idle = append(idle, string(it.Key()))
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	for _, key := range idle {
		if _, busy := pb.dirty[key]; busy {
			continue
		}
		if _, busy := pb.inflight[key]; busy {
			continue
		}
		if _, marked := pb.deletes[key]; !marked {
			pb.deletes[key] = false
			pb.bytes += len(key)
		}
	}
	return nil
}

// begin takes mu for one message's callback.
func (pb *partBatch) begin() { pb.mu.Lock() }

// end adds the message to the batch (see done), releases mu and writes
// the batch if it is full.
func (pb *partBatch) end(ctx goka.Context, applied int) {
	full := pb.done(ctx, applied)
	pb.mu.Unlock()
	if full {
		pb.flush(false)
	}
}

// statePerMessage is false: the batch's commits wait for all its writes,
// dead letters included, so a sensor without a state need not write one.
func (*partBatch) statePerMessage() bool { return false }

// del marks key for deletion at the batch's end; the caller holds mu.
func (pb *partBatch) del(_ goka.Context, key string) {
	if i, ok := pb.dirty[key]; ok {
		pb.updated[i].rec = nil
		delete(pb.dirty, key)
	}
	pb.deletes[key] = true
	pb.bytes += len(key)
}

// lookup returns the sensor's state waiting in the batch or being written;
// known says the batch knows the sensor (rec nil: deleted), so the cache
// and the local copy must not be asked. The caller holds mu.
func (pb *partBatch) lookup(key string) (rec *Record, known bool, err error) {
	if i, ok := pb.dirty[key]; ok {
		return pb.updated[i].rec, true, nil
	}
	if pb.deletes[key] {
		return nil, true, nil
	}
	b, ok := pb.inflight[key]
	if !ok {
		return nil, false, nil
	}
	if b == nil {
		return nil, true, nil // being deleted
	}
	v, err := pb.w.codec.Decode(b)
	if err != nil {
		return nil, true, err
	}
	return v.(*Record), true, nil
}

// set marks rec as written by the message; the caller holds mu.
//
// A record already in the batch finds its place through batchAt, without
// the dirty map: at many sensors every map access is a wait on memory, and
// most messages update a sensor the batch already holds. The place is
// checked, not trusted: a record is at most once in updated, under its
// own key, so updated[i].rec == rec means it is there, and a stale batchAt
// (a cut batch, a record replaced or deleted) fails the check.
func (pb *partBatch) set(_ goka.Context, key string, rec *Record) {
	if len(pb.deletes) > 0 {
		delete(pb.deletes, key) // a new state after a delete replaces it
	}
	if i := rec.batchAt - 1; i >= 0 && i < len(pb.updated) && pb.updated[i].rec == rec {
		return
	}
	if i, ok := pb.dirty[key]; ok {
		pb.updated[i].rec = rec // a new record for the sensor
		rec.batchAt = i + 1
		return
	}
	pb.bytes += max(rec.size, stateSizeGuess) + len(key)
	pb.dirty[key] = len(pb.updated)
	pb.updated = append(pb.updated, dirtyState{key: key, rec: rec})
	rec.batchAt = len(pb.updated)
}

// stateSizeGuess stands for a state's size before its first encoding.
const stateSizeGuess = 1024

// emit adds an output; the caller holds mu.
func (pb *partBatch) emit(_ goka.Context, topic, key string, value []byte, headers goka.Headers) {
	pb.outs = append(pb.outs, outMsg{topic: topic, key: key, value: value, headers: headers})
	pb.bytes += len(value) + len(key)
}

// grows says whether a catching-up batch may grow at all.
func (w *batchWriter) grows() bool { return w.density > 1 && w.maxInterval > w.interval }

// catchUpQuiet is how long a growing batch waits for a next message before
// it takes the input as paused and is written. Shorter pauses are common
// while catching up: a partition's messages come in fetches, and a batch
// write or a GC cycle can hold every core for a good part of it.
const catchUpQuiet = time.Second

// catchingUp says whether the batch stays open past this tick. It does
// while the processor is behind its input — messages are still arriving,
// the newest one was produced more than an interval ago and it is not the
// last the partition has — and the batch holds fewer than density samples
// per sensor it updated, for at most maxInterval. A processor that keeps
// up, or whose input paused or ended, writes every interval as before.
// Message timestamps are the producer's clock: skew only moves where a
// batch ends, within maxInterval; a message without a timestamp counts as
// old.
//
// A batch at maxInterval whose partition has at most half as many
// messages left to read as the batch holds (nearlyRead) stays open until
// they are read, for at most half of maxInterval more. Ended at
// maxInterval, it would write every sensor it updated, and the last few
// messages, which touch most of those sensors again, would write them all
// a second time a moment later: at many sensors, twice the state writes of
// a catch-up that ends just after maxInterval.
func (pb *partBatch) catchingUp(now time.Time) bool {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	w := pb.w
	switch {
	case !w.grows() || pb.messages == 0:
		return false
	case now.Sub(pb.lastArrival) >= max(w.interval, catchUpQuiet): // the input paused or ended
		return false
	case pb.readAll():
		return false
	case now.Sub(pb.opened) >= w.maxInterval+w.maxInterval/2:
		return false
	case now.Sub(pb.opened) >= w.maxInterval && !pb.nearlyRead():
		return false
	case now.Sub(pb.newest) <= w.interval: // keeping up
		return false
	}
	samples := max(pb.applied, uint64(pb.messages))
	return samples < uint64(w.density)*uint64(len(pb.dirty))
}

// position is a message's topic and offset.
type position struct {
	topic  string
	offset int64
}

// done adds the message of ctx, which applied samples, to the batch; the
// caller holds mu. The batch's first message of its topic is held by the
// gate and defers its commit (without a gate or transactions every message
// defers it).
// done says whether the batch must be written now (full, or the partition
// closed).
func (pb *partBatch) done(ctx goka.Context, applied int) bool {
	if pb.w.grows() {
		now := pb.w.now()
		if pb.messages == 0 {
			pb.opened = now
		}
		if ts := ctx.Timestamp(); ts.After(pb.newest) {
			pb.newest = ts
		}
		pb.lastArrival = now
	}
	pb.last = position{string(ctx.Topic()), ctx.Offset()}
	pb.next(pb.last)
	switch {
	case pb.w.gate == nil && pb.w.txns == nil:
		pb.commits = append(pb.commits, ctx.DeferCommit())
	case !pb.holding(pb.last.topic):
		if pb.w.gate != nil {
			pb.w.gate.Hold(pb.last.topic, pb.p, pb.last.offset)
		}
		pb.holds = append(pb.holds, pb.last)
		pb.commits = append(pb.commits, ctx.DeferCommit())
	}
	pb.messages++
	pb.applied += uint64(applied)
	pb.bytes += batchMessageBytes
	return pb.closed || pb.bytes >= pb.w.maxBytes
}

// readAll says whether the newest message was the last of the partition
// that sarama's fetches know of: the processor has caught up (or the input
// ended) and the batch need not wait catchUpQuiet to see it. The caller
// holds mu.
func (pb *partBatch) readAll() bool {
	left, ok := pb.left()
	return ok && left <= 0
}

// nearlyRead says whether the partition has at most half as many messages
// left to read as the batch holds, as far as sarama's fetches know (false
// when unknown): at the batch's pace, what half of its time read. The
// caller holds mu.
func (pb *partBatch) nearlyRead() bool {
	left, ok := pb.left()
	return ok && 2*left <= int64(pb.messages)
}

// left is how many messages the partition has after the batch's newest, as
// far as sarama's fetches know (false when unknown or the batch is empty).
// The caller holds mu.
func (pb *partBatch) left() (int64, bool) {
	if pb.w.ends == nil || pb.messages == 0 {
		return 0, false
	}
	hwm, ok := pb.w.ends.HighWaterMark(pb.last.topic, pb.p)
	return hwm - pb.last.offset - 1, ok
}

// next records m as the batch's newest message of its topic.
func (pb *partBatch) next(m position) {
	for i := range pb.nexts {
		if pb.nexts[i].Topic == m.topic {
			pb.nexts[i].Next = m.offset + 1
			return
		}
	}
	pb.nexts = append(pb.nexts, exactlyonce.Offset{Topic: m.topic, Next: m.offset + 1})
}

// holding says whether the batch holds a message of topic.
func (pb *partBatch) holding(topic string) bool {
	for _, h := range pb.holds {
		if h.topic == topic {
			return true
		}
	}
	return false
}

// cutBatch is a batch taken out of a partBatch, ready to be produced.
type cutBatch struct {
	table    []outMsg // states (value nil: a deletion), encoded and readable in inflight
	outs     []outMsg
	commits  []func(error)
	holds    []position
	nexts    []exactlyonce.Offset
	messages int
	applied  uint64
	bytes    int // of the states
	err      error
}

// flush cuts the open batch and writes it; final marks the partition closed
// first, so that a message still in its callback writes its own batch.
func (pb *partBatch) flush(final bool) {
	pb.writeMu.Lock()
	defer pb.writeMu.Unlock()
	c := pb.cut(final)
	pb.write(c)
}

// cut takes the open batch: each state is encoded once, now, while the
// callback cannot change it, and stays readable (inflight) until write has
// put it into the local table copy.
func (pb *partBatch) cut(final bool) cutBatch {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if final {
		pb.closed = true
	}
	c := cutBatch{outs: pb.outs, commits: pb.commits, holds: pb.holds, nexts: pb.nexts, messages: pb.messages, applied: pb.applied}
	if len(pb.dirty) > 0 {
		c.table = make([]outMsg, 0, len(pb.dirty))
	}
	if pb.inflight == nil {
		pb.inflight = make(map[string][]byte, len(pb.dirty))
	}
	for _, d := range pb.updated {
		key, rec := d.key, d.rec
		if rec == nil {
			continue // deleted
		}
		b, err := pb.w.codec.Encode(rec)
		if err != nil {
			c.err = errors.Join(c.err, fmt.Errorf("state of sensor %q: %w", key, err))
			continue
		}
		pb.inflight[key] = b
		c.table = append(c.table, outMsg{topic: pb.w.table, key: key, value: b, headers: pb.pin})
		c.bytes += len(b)
	}
	for key, tombstone := range pb.deletes {
		if !tombstone {
			pb.w.counts.Deleted.Add(1)
			pb.w.infoLog.log(pb.w.log, slog.LevelInfo, pb.w.now(), "sensor deleted", "idle", "sensor", key, "partition", pb.p, "idle_ttl", pb.w.idleTTL)
		}
		pb.inflight[key] = nil
		c.table = append(c.table, outMsg{topic: pb.w.table, key: key, value: nil, headers: pb.pin})
		if pb.w.forget != nil {
			pb.w.forget(pb.p, key)
		}
	}
	clear(pb.dirty)
	clear(pb.updated) // let the states go
	pb.updated = pb.updated[:0]
	clear(pb.deletes)
	pb.outs, pb.commits, pb.holds, pb.nexts, pb.messages, pb.applied, pb.bytes = nil, nil, nil, nil, 0, 0, 0
	pb.newest = time.Time{}
	return c
}

// write produces a cut batch, waits for every acknowledgement, stores the
// table offset, releases the gate's holds and completes the deferred
// commits in order. A failure releases nothing and fails every deferred
// commit of the batch (goka then stops the processor, which is rebuilt,
// and the messages are redelivered) and every later batch.
func (pb *partBatch) write(c cutBatch) {
	if c.messages == 0 && len(c.table) == 0 && len(c.outs) == 0 && c.err == nil {
		return
	}
	err := pb.failed
	if err == nil {
		err = c.err
	}
	if err == nil && pb.w.txns != nil {
		err = pb.produceTxn(c)
	} else if err == nil {
		err = pb.produce(c)
	}
	if err != nil && pb.failed == nil {
		pb.failed = err
		msg := "batch not written; the processor stops and its messages are redelivered"
		if errors.Is(err, exactlyonce.ErrFenced) {
			msg = "batch aborted: another member owns the partition now; the processor drops its states and rejoins"
		}
		pb.w.log.Error(msg, "partition", pb.p, "messages", c.messages, "sensors", len(c.table), "err", err)
	}
	if err == nil && pb.w.gate != nil {
		for _, h := range c.holds {
			pb.w.gate.Release(h.topic, pb.p, h.offset)
		}
	}
	for _, commit := range c.commits {
		commit(err)
	}
	pb.w.health.settle(c.messages, err)
	if err == nil {
		pb.w.counts.StateWrites.Add(uint64(len(c.table)))
		pb.w.counts.StateBytes.Add(uint64(c.bytes))
		pb.w.counts.Written.Add(c.applied)
		pb.w.metrics.observeBatch(c.messages, len(c.table))
	}
}

// produce writes a cut batch in two steps. First the dead letters and
// snapshots, and only once Kafka has acknowledged them the states, so that
// a state never says a message was applied while its dead letter may still
// be lost: a redelivered message that its state already holds is skipped,
// and would not be dead-lettered again. The states go to the changelog and
// into the local copy at once, the local copy written while the producer
// waits for the broker. Either may end ahead of the other after a crash,
// and neither matters: the newest table offset is stored with the local
// copy last, once both are written, so a local copy behind the changelog is
// caught up from that offset when recovered, and one ahead holds what the
// changelog would have held (a redelivered message writes its state again,
// see Handler.process).
func (pb *partBatch) produce(c cutBatch) error {
	if _, err := pb.start(c.outs).wait(); err != nil {
		return err
	}
	sending := pb.start(c.table)
	localErr := pb.setLocal(c.table)
	tableAt, err := sending.wait()
	if err := errors.Join(localErr, err); err != nil {
		return err
	}
	return pb.storeOffset(tableAt)
}

// storeOffset stores tableAt, the batch's newest table offset (negative:
// none written), with the local copy.
func (pb *partBatch) storeOffset(tableAt int64) error {
	if tableAt < 0 {
		return nil
	}
	if err := pb.store.SetOffset(tableAt); err != nil {
		return fmt.Errorf("store table offset %d of %s/%d: %w", tableAt, pb.w.table, pb.p, err)
	}
	return nil
}

// produceTxn writes a cut batch in one transaction: its outputs and
// states, then its input offsets, committed with the group's generation
// (exactlyonce.Transactions). Either all of it is written or none, so the
// order of produce need not hold: a state cannot be committed while its
// dead letter is lost. The local copy gets the states once the transaction
// committed, so it never holds a state that the changelog may not; a
// fenced or failed transaction leaves it as it was, and the processor,
// stopped by the failure, drops every state it held in memory.
//
// A batch that wrote nothing (its messages were all below the states'
// offsets) commits nothing: a transaction that produced no record cannot
// commit offsets (Txn.Commit), and the next batch commits past them.
func (pb *partBatch) produceTxn(c cutBatch) error {
	if len(c.outs) == 0 && len(c.table) == 0 {
		return nil
	}
	tx, err := pb.w.txns.Partition(pb.p)
	if err != nil {
		return err
	}
	// The broker aborts a transaction open longer than its timeout: a
	// batch that waits longer has failed.
	ctx, cancel := context.WithTimeout(context.Background(), exactlyonce.TransactionTimeout)
	defer cancel()
	if err := tx.Begin(); err != nil {
		return err
	}
	outs, states := pb.startOn(tx, c.outs), pb.startOn(tx, c.table)
	_, outErr := outs.wait()
	tableAt, err := states.wait()
	if err := errors.Join(outErr, err); err != nil {
		return tx.Abort(ctx, err)
	}
	if err := tx.Commit(ctx, c.nexts); err != nil {
		return err
	}
	if err := pb.setLocal(c.table); err != nil {
		return err
	}
	return pb.storeOffset(tableAt)
}

// setLocal puts the batch's states into the local table copy. The
// partition's messages go on meanwhile: one that reads a state of this
// batch finds it in inflight until it is in the local copy, and the next
// batch, the only other writer of inflight and of the local copy, is cut
// once this one is written (writeMu).
func (pb *partBatch) setLocal(states []outMsg) error {
	defer func() {
		pb.mu.Lock()
		defer pb.mu.Unlock()
		clear(pb.inflight)
	}()
	for _, o := range states {
		set := pb.store.Set
		if o.value == nil { // a tombstone
			set = func(key string, _ []byte) error { return pb.store.Delete(key) }
		}
		if err := set(o.key, o.value); err != nil {
			return fmt.Errorf("local copy of %s/%d, sensor %q: %w", pb.w.table, pb.p, o.key, err)
		}
	}
	return nil
}

// sending is records being produced (start).
type sending struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	newest int64 // -1: none acknowledged
}

// start produces msgs; wait waits for their acknowledgements.
func (pb *partBatch) start(msgs []outMsg) *sending { return pb.startOn(pb.w.producer, msgs) }

// startOn produces msgs through p.
func (pb *partBatch) startOn(p goka.Producer, msgs []outMsg) *sending {
	s := &sending{newest: -1}
	for _, o := range msgs {
		s.wg.Add(1)
		p.EmitWithHeaders(o.topic, o.key, o.value, o.headers).ThenWithMessage(func(m *sarama.ProducerMessage, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			defer s.wg.Done()
			if err != nil {
				s.errs = append(s.errs, fmt.Errorf("write to %s (key %q): %w", o.topic, o.key, err))
				return
			}
			if m != nil && m.Offset > s.newest {
				s.newest = m.Offset
			}
		})
	}
	return s
}

// wait waits for every acknowledgement and returns the newest offset
// written (-1 for none).
func (s *sending) wait() (int64, error) {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newest, errors.Join(s.errs...)
}
