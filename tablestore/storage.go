// Package tablestore is the local copy of a goka group table: one LevelDB
// per partition in goka's layout, with writes buffered in memory (see
// StorageBuilder).
package tablestore

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	ldbiter "github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	lstorage "github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// OffsetKey is goka's key of the table offset in every local copy of a
// table, goka's own storage and this one alike. No table value may be
// stored under it.
const OffsetKey = "__offset"

// Defaults of StorageOptions.
const (
	DefaultStorageFlush   = 200 * time.Millisecond
	DefaultStoragePending = 8 << 20
	DefaultStorageTimeout = 30 * time.Second
)

// ErrTimeout is wrapped by the error of a LevelDB write or close that did
// not finish within StorageOptions.Timeout.
var ErrTimeout = errors.New("timed out")

// StorageOptions tune the local table copies (see StorageBuilder).
type StorageOptions struct {
	// FlushInterval is how long a write waits in memory: the buffered
	// writes go to LevelDB together once the oldest of them is
	// FlushInterval old (checked every quarter of it). Timed from the
	// oldest write rather than by fixed ticks, so that writes made just
	// before a tick are not written at once. Default DefaultStorageFlush
	// (200ms).
	FlushInterval time.Duration
	// MaxPending is the bytes of values held in memory before a write
	// flushes at once. Default DefaultStoragePending (8 MiB).
	MaxPending int
	// MaxPendingTotal bounds the bytes of values held in memory by every
	// partition the builder opens together: the write that reaches it
	// flushes its partition at once, and the other partitions flush in the
	// background. Default 0: no bound besides MaxPending per partition. A
	// process that sets a long FlushInterval and a large MaxPending (the
	// processor does) sets it so that its memory does not grow with its
	// partition count.
	MaxPendingTotal int
	// Log receives the damaged and foreign partitions moved aside (nil:
	// slog.Default()).
	Log *slog.Logger
	// Origin, when set, is asked for each partition it opens: a copy that
	// does not belong to the table topic there is moved aside and rebuilt,
	// and the origin is recorded with the copy (see Origin). A failure to
	// ask fails the open.
	Origin OriginFunc
	// Timeout bounds each write of buffered values to LevelDB and each
	// close of it. goleveldb can wait for ever: a full disk fails the
	// compactions, which it retries while writes wait, and a failed large
	// write leaves its write lock taken. A write that fails or times out
	// fails the partition (every later write, and Close, returns the
	// error) and calls OnFail; a close that times out abandons the
	// database, which is moved aside when the partition opens next. Default
	// DefaultStorageTimeout (30s).
	Timeout time.Duration
	// OnFail, when set, is called once with the error of a partition whose
	// write failed or timed out, also of a write in the background, which
	// no caller would see until its next write.
	OnFail func(error)
}

// StorageBuilder builds the local copies of a table under dir, one LevelDB
// per partition in goka's layout (dir/TOPIC.PARTITION, the offset under the
// key OffsetKey as a decimal string), so existing state directories and
// goka's own storage read each other's files.
//
// It differs from goka's storage.DefaultBuilder in two ways:
//
//   - Writes are buffered in memory and written to LevelDB together, as one
//     atomic batch with the table offset, once the oldest of them is
//     FlushInterval old (and at once when MaxPending bytes are waiting, or
//     MaxPendingTotal over every partition, at MarkRecovered, before an
//     iterator and on Close). Reads see the buffered writes. The processor
//     writes a sensor's state once per batch, or on every message without
//     batches (docs/design.md, delivery guarantees), and goka's storage
//     turns each of those writes into a LevelDB journal write(2) plus a
//     second one for the offset, and the memtable fills and compacts every
//     few thousand states. Buffered, a batch holds each written key once.
//     The local copy is a cache of the changelog: goka rebuilds it from the
//     changelog starting at the stored offset, and that offset only ever
//     goes to LevelDB in the same batch as every value written before it,
//     so after a crash the copy is at worst 1.25 FlushInterval behind and is
//     caught up from the changelog on the next start, as after any crash.
//   - MarkRecovered runs once: with goka v1.1.16 a view that reconnects
//     after a broker restart (WithViewAutoReconnect) recovers again on the
//     storage it already has, and goka's MarkRecovered then closes a closed
//     channel — a panic that takes the whole process down.
//
// A partition whose LevelDB is damaged (corrupted or missing files found
// when opening it, or by a read or write, which then fails) is moved aside
// to dir/TOPIC.PARTITION.corrupt-TIME and rebuilt from the changelog; see
// partitionDB.open. So is one that belongs to another cluster or topic, or
// holds records past the end of the topic (StorageOptions.Origin), and one
// whose close did not finish (StorageOptions.Timeout): its LevelDB may
// still hold the directory's lock and write to its files.
func StorageBuilder(dir string) storage.Builder { return StorageBuilderWith(dir, StorageOptions{}) }

// StorageBuilderWith is StorageBuilder with options.
func StorageBuilderWith(dir string, o StorageOptions) storage.Builder {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultStorageFlush
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultStoragePending
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultStorageTimeout
	}
	var total *pendingTotal
	if o.MaxPendingTotal > 0 {
		total = &pendingTotal{max: int64(o.MaxPendingTotal), members: map[*buffered]struct{}{}}
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		p := &partitionDB{path: filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition)),
			topic: topic, partition: partition, log: o.Log}
		db, err := p.open()
		if err != nil {
			return nil, err
		}
		if o.Origin != nil {
			if db, err = p.belongs(db, o.Origin); err != nil {
				return nil, err
			}
		}
		b := newBuffered(db, p, o)
		total.join(b)
		return b, nil
	}
}

// pendingTotal is the bytes buffered by every partition of a builder, for
// StorageOptions.MaxPendingTotal (nil: no such bound).
type pendingTotal struct {
	bytes atomic.Int64
	max   int64

	mu      sync.Mutex
	members map[*buffered]struct{} // the open partitions
}

func (t *pendingTotal) join(b *buffered) {
	if t == nil {
		return
	}
	b.total = t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.members[b] = struct{}{}
}

func (t *pendingTotal) leave(b *buffered) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.members, b)
}

// add counts n more bytes buffered and says whether the total is full.
func (t *pendingTotal) add(n int) bool {
	return t != nil && t.bytes.Add(int64(n)) >= t.max
}

// kick asks every partition but self to flush in the background.
func (t *pendingTotal) kick(self *buffered) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for b := range t.members {
		if b == self {
			continue
		}
		select {
		case b.kick <- struct{}{}:
		default: // one is waiting already
		}
	}
}

// pendingValue is a buffered write; del marks a delete.
type pendingValue struct {
	v   []byte
	del bool
}

type buffered struct {
	db    *localDB
	opt   StorageOptions
	where *partitionDB

	mu       sync.Mutex
	pending  map[string]pendingValue // newest writes
	flushing map[string]pendingValue // being written by flush; read after pending
	bytes    int                     // of values in pending
	total    *pendingTotal           // nil: no MaxPendingTotal
	kick     chan struct{}           // flush now (MaxPendingTotal reached elsewhere)
	offset   int64                   // newest SetOffset; valid when hasOff
	hasOff   bool
	offDirty bool      // offset not yet in LevelDB
	oldest   time.Time // when the oldest write not yet in LevelDB was buffered; zero: none
	err      error     // a write failed or timed out: the partition is failed

	flushMu   sync.Mutex // one flush at a time
	recovered sync.Once
	recErr    error
	closeOnce sync.Once
	started   atomic.Bool
	stop      chan struct{}
	done      chan struct{}
}

func newBuffered(db *localDB, where *partitionDB, o StorageOptions) *buffered {
	return &buffered{db: db, where: where, opt: o, pending: map[string]pendingValue{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Open starts the background flusher.
func (b *buffered) Open() error {
	if !b.started.CompareAndSwap(false, true) {
		return nil
	}
	go func() {
		defer close(b.done)
		t := time.NewTicker(max(b.opt.FlushInterval/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case now := <-t.C:
				if b.due(now) {
					_ = b.flush()
				}
			case <-b.kick:
				_ = b.flush()
			}
		}
	}()
	return nil
}

// due says whether the oldest buffered write is FlushInterval old at now.
func (b *buffered) due(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.oldest.IsZero() && now.Sub(b.oldest) >= b.opt.FlushInterval
}

// buffering notes a write not yet in LevelDB; the caller holds mu.
func (b *buffered) buffering() {
	if b.oldest.IsZero() {
		b.oldest = time.Now()
	}
}

// Close flushes and closes LevelDB, each within the timeout. A failed
// partition is not flushed again; a close that does not finish is left
// running and the database abandoned (see partitionDB.abandon).
func (b *buffered) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		if b.started.Load() {
			<-b.done // its flush is bounded
		}
		err = b.flush()
		b.total.leave(b)
		cerr := b.bounded(b.db.Close)
		if errors.Is(cerr, ErrTimeout) {
			b.where.abandon(cerr)
		}
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("local table copy %s: close: %w", b.where, cerr))
		}
	})
	return err
}

// bounded runs op, a write or close of LevelDB, and waits for it at most
// the timeout; op then goes on alone.
func (b *buffered) bounded(op func() error) error {
	done := make(chan error, 1)
	go func() { done <- op() }()
	t := time.NewTimer(b.opt.Timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("no answer from LevelDB after %v: %w", b.opt.Timeout, ErrTimeout)
	}
}

func (b *buffered) lookup(key string) (pendingValue, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pv, ok := b.pending[key]; ok {
		return pv, true
	}
	if pv, ok := b.flushing[key]; ok {
		return pv, true
	}
	return pendingValue{}, false
}

// Get returns the newest value of key, nil when there is none. The slice
// must not be modified.
func (b *buffered) Get(key string) ([]byte, error) {
	if pv, ok := b.lookup(key); ok {
		if pv.del {
			return nil, nil
		}
		return pv.v, nil
	}
	v, err := b.db.Get([]byte(key), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, b.where.failed(fmt.Sprintf("get %q", key), err)
	}
	return v, nil
}

// Has says whether key has a value.
func (b *buffered) Has(key string) (bool, error) {
	v, err := b.Get(key)
	return v != nil, err
}

// Set buffers a write; value is kept, not copied (goka hands every value
// to the producer too and never modifies it).
func (b *buffered) Set(key string, value []byte) error {
	return b.put(key, pendingValue{v: value})
}

// Delete buffers a delete.
func (b *buffered) Delete(key string) error { return b.put(key, pendingValue{del: true}) }

func (b *buffered) put(key string, pv pendingValue) error {
	b.mu.Lock()
	if err := b.err; err != nil {
		b.mu.Unlock()
		return err
	}
	n := len(pv.v) + len(key)
	if old, ok := b.pending[key]; ok {
		n -= len(old.v) + len(key)
	}
	b.pending[key] = pv
	b.bytes += n
	b.buffering()
	full := b.bytes >= b.opt.MaxPending
	totalFull := b.total.add(n)
	b.mu.Unlock()
	if totalFull {
		b.total.kick(b)
	}
	if full || totalFull {
		return b.flush()
	}
	return nil
}

// GetOffset returns the newest offset set, else the stored one, else def.
func (b *buffered) GetOffset(def int64) (int64, error) {
	b.mu.Lock()
	off, ok := b.offset, b.hasOff
	b.mu.Unlock()
	if ok {
		return off, nil
	}
	v, err := b.db.Get([]byte(OffsetKey), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return 0, b.where.failed("get offset", err)
	}
	o, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, b.where.failed("offset", lerrors.NewErrCorrupted(lstorage.FileDesc{}, fmt.Errorf("offset %q: %w", v, err)))
	}
	return o, nil
}

// SetOffset records the table offset; it reaches LevelDB with the next
// flush, together with every value set before it.
func (b *buffered) SetOffset(offset int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.offset, b.hasOff, b.offDirty = offset, true, true
	b.buffering()
	return b.err
}

// MarkRecovered flushes; it runs once (see StorageBuilder).
func (b *buffered) MarkRecovered() error {
	b.recovered.Do(func() { b.recErr = b.flush() })
	return b.recErr
}

// batches are the LevelDB batches of flushes, kept between them: a batch
// grows by copying itself, past 3,000 records by a constant amount, so a
// fresh one for every flush of thousands of 1.3 kB states would copy and
// allocate their bytes about three times over.
var batches = sync.Pool{New: func() any { return new(leveldb.Batch) }}

// flush writes the buffered values and the offset as one LevelDB batch,
// within the timeout. A failed partition writes nothing more.
func (b *buffered) flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	if b.err != nil || (len(b.pending) == 0 && !b.offDirty) {
		err := b.err
		b.mu.Unlock()
		return err
	}
	batch := batches.Get().(*leveldb.Batch)
	batch.Reset()
	for k, pv := range b.pending {
		if pv.del {
			batch.Delete([]byte(k))
		} else {
			batch.Put([]byte(k), pv.v)
		}
	}
	if b.offDirty {
		batch.Put([]byte(OffsetKey), strconv.AppendInt(nil, b.offset, 10))
		b.offDirty = false
	}
	b.total.add(-b.bytes)
	b.flushing, b.pending, b.bytes = b.pending, make(map[string]pendingValue, len(b.pending)), 0
	b.oldest = time.Time{}
	b.mu.Unlock()

	// The batch goes back to the pool once LevelDB is done with it, which
	// after a timeout is later than this flush.
	err := b.bounded(func() error {
		defer batches.Put(batch)
		return b.db.Write(batch, nil)
	})

	b.mu.Lock()
	if err != nil {
		// Keep what failed readable and make every later write fail: the
		// processor stops and is rebuilt from the changelog.
		for k, pv := range b.flushing {
			if _, newer := b.pending[k]; !newer {
				b.pending[k] = pv
			}
		}
		b.err = b.where.failed("write", err)
		err = b.err
	}
	b.flushing = nil
	b.mu.Unlock()
	if err != nil && b.opt.OnFail != nil {
		b.opt.OnFail(err)
	}
	return err
}

// Iterator iterates over the stored values (after a flush), without the
// offset key.
func (b *buffered) Iterator() (storage.Iterator, error) {
	if err := b.flush(); err != nil {
		return nil, err
	}
	return &iterator{it: b.db.NewIterator(nil, &opt.ReadOptions{DontFillCache: true}), where: b.where}, nil
}

// IteratorWithRange iterates over [start, limit), or over the keys with
// prefix start when limit is empty (as goka's storage does).
func (b *buffered) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if err := b.flush(); err != nil {
		return nil, err
	}
	r := util.BytesPrefix(start)
	if len(limit) > 0 {
		r = &util.Range{Start: start, Limit: limit}
	}
	return &iterator{it: b.db.NewIterator(r, nil), where: b.where}, nil
}

type iterator struct {
	it    ldbiter.Iterator
	where *partitionDB
}

func (i *iterator) Next() bool {
	for i.it.Next() {
		if string(i.it.Key()) != OffsetKey {
			return true
		}
	}
	return false
}

func (i *iterator) Err() error {
	if err := i.it.Error(); err != nil {
		return i.where.failed("iterate", err)
	}
	return nil
}

func (i *iterator) Key() []byte            { return i.it.Key() }
func (i *iterator) Value() ([]byte, error) { return i.it.Value(), nil }
func (i *iterator) Release()               { i.it.Release() }
func (i *iterator) Seek(key []byte) bool {
	if !i.it.Seek(key) {
		return false
	}
	if string(i.it.Key()) == OffsetKey {
		return i.Next()
	}
	return true
}
