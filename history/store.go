package history

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/tablestore"
)

// DefaultPoints bounds the points a Store keeps per sensor.
const DefaultPoints = 2000

// DefaultMaxBytes bounds the bytes a Store keeps in total (keys and values
// of its LevelDB, before LevelDB's own compression and overhead).
const DefaultMaxBytes = 512 << 20

// flushEvery is how many snapshots a Store batches into one LevelDB write.
const flushEvery = 2000

// Store keeps each sensor's snapshots in a LevelDB, at most Points of them
// per sensor: when a sensor's series is full every second point is dropped
// and from then on only every second snapshot is kept (then every fourth,
// …), so the whole learning curve stays visible at an even spacing. The
// newest snapshot is always kept as well. A snapshot whose sample count is
// not above the newest one's is a duplicate (redelivered after a crash) and
// is ignored.
//
// The whole store is bounded by MaxBytes: when it is over, the curves of the
// sensors that got a snapshot least recently are thinned (every second
// point dropped, down to 32 points) or, once that short, dropped whole,
// oldest first, until it fits (a dropped sensor's curve starts again at its
// next snapshot). The store also keeps, per partition of the snapshots
// topic, the offset to resume from, written in the same LevelDB batch as the
// points it covers.
//
// Writes are batched; every read sees every Add before it. Safe for
// concurrent use.
//
// Keys: 'm'+sensor → meta (series counters, newest snapshot);
// 'p'+uvarint(len sensor)+sensor+seq (big endian) → one kept point;
// 'u'+touch (big endian) → sensor, the order of the latest snapshots;
// 'o'+partition → next offset; 't' → touch counter and total bytes;
// 'i' → the cluster and topic the curves were read from (JSON, see
// tablestore.Origin).
type Store struct {
	max      int
	maxBytes int64
	db       *leveldb.DB
	stor     storage.Storage // closed with db (leveldb.Open leaves it open)

	mu      sync.Mutex
	batch   leveldb.Batch
	dirty   map[string]*meta
	pending int
	offsets map[int32]int64 // next offset per partition, flushed or not
	touch   uint64
	total   int64
	err     error
}

// meta is a sensor's series: the kept points are the seq k*stride for
// k < np; seq counts the distinct snapshots seen.
type meta struct {
	stride, seq, np uint64
	touch           uint64 // Store.touch at its newest snapshot
	pointBytes      int64  // bytes of its point keys and values
	last            []byte // newest snapshot, encoded; nil: it is the newest point
	lastSamples     uint64

	storedTouch uint64 // touch of its 'u' key in the database (0: none)
	storedBytes int64  // bytes of its 'm' and 'u' entries in the database
}

// NewStore returns a store in memory of at most points points per sensor
// (< 2: DefaultPoints) and DefaultMaxBytes in total.
func NewStore(points int) *Store {
	st, err := openStore(storage.NewMemStorage(), points, DefaultMaxBytes)
	if err != nil {
		panic(err) // a memory storage does not fail to open
	}
	return st
}

// OpenStore opens (creating it if needed) the store in dir, keeping at most
// points points per sensor (< 2: DefaultPoints) and maxBytes in total
// (≤ 0: DefaultMaxBytes).
func OpenStore(dir string, points int, maxBytes int64) (*Store, error) {
	stor, err := storage.OpenFile(dir, false)
	if err != nil {
		return nil, fmt.Errorf("history store %s: %w (is another process using it?)", dir, err)
	}
	st, err := openStore(stor, points, maxBytes)
	if err != nil {
		stor.Close()
		return nil, fmt.Errorf("history store %s: %w", dir, err)
	}
	return st, nil
}

func openStore(stor storage.Storage, points int, maxBytes int64) (*Store, error) {
	if points < 2 {
		points = DefaultPoints
	}
	if points%2 == 1 {
		points++
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	db, err := leveldb.Open(stor, &opt.Options{WriteBuffer: 16 << 20})
	if err != nil {
		return nil, err
	}
	st := &Store{max: points, maxBytes: maxBytes, db: db, stor: stor, dirty: map[string]*meta{}, offsets: map[int32]int64{}}
	if v, err := db.Get([]byte{'t'}, nil); err == nil {
		t, n := binary.Uvarint(v)
		b, m := binary.Uvarint(v[max(n, 0):])
		if n <= 0 || m <= 0 {
			db.Close()
			return nil, errors.New("damaged totals")
		}
		st.touch, st.total = t, int64(b)
	} else if !errors.Is(err, leveldb.ErrNotFound) {
		db.Close()
		return nil, err
	}
	it := db.NewIterator(util.BytesPrefix([]byte{'o'}), nil)
	for it.Next() {
		if len(it.Key()) == 5 {
			off, _ := binary.Varint(it.Value())
			st.offsets[int32(binary.BigEndian.Uint32(it.Key()[1:]))] = off
		}
	}
	it.Release()
	if err := it.Error(); err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// Close writes what is pending and closes the database.
func (st *Store) Close() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	err := st.flushLocked()
	return errors.Join(err, st.db.Close(), st.stor.Close())
}

// Max is the most points kept per sensor (the newest snapshot comes on top).
func (st *Store) Max() int { return st.max }

// MaxBytes is the bound of the whole store.
func (st *Store) MaxBytes() int64 { return st.maxBytes }

// Bytes is what the store holds now (written or pending): keys and values.
func (st *Store) Bytes() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	_ = st.flushLocked()
	return st.total
}

// Err is the first write error of the store; from then on it drops every
// snapshot.
func (st *Store) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// Offsets returns the next offset to read of each partition of the
// snapshots topic, as recorded by Record.
func (st *Store) Offsets() map[int32]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return maps.Clone(st.offsets)
}

// Record notes that the snapshots topic's partition was read up to next
// (exclusive); it is written with the snapshots added before it.
func (st *Store) Record(partition int32, next int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.offsets[partition] = next
	var k [5]byte
	k[0] = 'o'
	binary.BigEndian.PutUint32(k[1:], uint32(partition))
	st.batch.Put(k[:], binary.AppendVarint(nil, next))
}

// Origin is the cluster and topic the store's curves were read from, as
// recorded by SetOrigin (zero: none).
func (st *Store) Origin() tablestore.Origin {
	var o tablestore.Origin
	if b, err := st.db.Get([]byte{'i'}, nil); err == nil {
		_ = json.Unmarshal(b, &o) // unreadable: unknown
	}
	return o
}

// SetOrigin records the cluster and topic the store's curves are read
// from.
func (st *Store) SetOrigin(o tablestore.Origin) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return st.db.Put([]byte{'i'}, b, nil)
}

// Reset drops every curve, offset and origin: the store was read from
// another cluster or topic.
func (st *Store) Reset() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.batch.Reset()
	clear(st.dirty)
	clear(st.offsets)
	st.pending, st.touch, st.total, st.err = 0, 0, 0, nil
	var b leveldb.Batch
	it := st.db.NewIterator(nil, nil)
	for it.Next() {
		b.Delete(slices.Clone(it.Key()))
	}
	it.Release()
	if err := it.Error(); err != nil {
		return err
	}
	return st.db.Write(&b, nil)
}

// Flush writes what is pending and drops the oldest curves if the store is
// over its bound.
func (st *Store) Flush() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.flushLocked()
}

// Add adds a snapshot and says whether it was new.
func (st *Store) Add(s schema.Snapshot) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return false
	}
	ok, err := st.add(s)
	if err != nil {
		st.err = err
	}
	return ok
}

func (st *Store) add(s schema.Snapshot) (bool, error) {
	m, err := st.meta(s.Sensor)
	if err != nil {
		return false, err
	}
	if m != nil && s.Samples <= m.lastSamples {
		return false, nil
	}
	if m != nil && m.seq%m.stride == 0 && m.np == uint64(st.max) {
		// Halving reads the sizes of the points it deletes from the
		// database: write what is pending first (which may drop this
		// sensor's curve, so read it again).
		if err := st.flushLocked(); err != nil {
			return false, err
		}
		if m, err = st.meta(s.Sensor); err != nil {
			return false, err
		}
		if m != nil && m.seq%m.stride == 0 && m.np == uint64(st.max) {
			if err := st.halve(s.Sensor, m); err != nil {
				return false, err
			}
		}
	}
	if m == nil {
		m = &meta{stride: 1}
	}
	n := m.seq
	m.seq++
	st.touch++
	m.touch = st.touch
	m.last, m.lastSamples = encodePoint(s), s.Samples
	if n%m.stride == 0 {
		k := pointKey(s.Sensor, n)
		st.batch.Put(k, m.last)
		m.np++
		size := int64(len(k) + len(m.last))
		m.pointBytes += size
		st.total += size
		m.last = nil // kept once, as the newest point
	}
	st.dirty[s.Sensor] = m
	st.pending++
	if st.pending >= flushEvery {
		return true, st.flushLocked()
	}
	return true, nil
}

// halve drops every second kept point of a series (written, not pending).
func (st *Store) halve(sensor string, m *meta) error {
	for k := uint64(1); k < m.np; k += 2 {
		key := pointKey(sensor, k*m.stride)
		v, err := st.db.Get(key, nil)
		if errors.Is(err, leveldb.ErrNotFound) {
			continue // nothing to delete
		}
		if err != nil {
			return fmt.Errorf("point %d of sensor %q: %w", k*m.stride, sensor, err)
		}
		if k == m.np-1 && m.last == nil {
			m.last = v // the newest snapshot outlives its point
		}
		st.batch.Delete(key)
		m.pointBytes -= int64(len(key) + len(v))
		st.total -= int64(len(key) + len(v))
	}
	m.np = (m.np + 1) / 2
	m.stride *= 2
	st.dirty[sensor] = m
	return nil
}

// meta returns a sensor's series, pending or written; nil if it has none.
func (st *Store) meta(sensor string) (*meta, error) {
	if m := st.dirty[sensor]; m != nil {
		return m, nil
	}
	v, err := st.db.Get(metaKey(sensor), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := decodeMeta(v)
	if err != nil {
		return nil, fmt.Errorf("series of sensor %q: %w", sensor, err)
	}
	m.storedBytes = int64(1+len(sensor)+len(v)) + uKeyBytes(sensor)
	m.storedTouch = m.touch
	return m, nil
}

func uKeyBytes(sensor string) int64 { return int64(9 + len(sensor)) }

func (st *Store) flushLocked() error {
	if err := st.writeLocked(); err != nil {
		return err
	}
	if st.total > st.maxBytes {
		if err := st.evict(); err != nil {
			st.err = err
			return err
		}
	}
	return nil
}

// writeLocked writes what is pending: the batch, and the series changed.
func (st *Store) writeLocked() error {
	if st.err != nil {
		return st.err
	}
	if st.batch.Len() == 0 && len(st.dirty) == 0 {
		return nil
	}
	for sensor, m := range st.dirty {
		if m.storedTouch != 0 {
			st.batch.Delete(touchKey(m.storedTouch))
		}
		v := encodeMeta(m)
		st.batch.Put(metaKey(sensor), v)
		st.batch.Put(touchKey(m.touch), []byte(sensor))
		size := int64(1+len(sensor)+len(v)) + uKeyBytes(sensor)
		st.total += size - m.storedBytes
		m.storedBytes, m.storedTouch = size, m.touch
	}
	clear(st.dirty)
	st.pending = 0
	st.batch.Put([]byte{'t'}, totals(st.touch, st.total))
	if err := st.db.Write(&st.batch, nil); err != nil {
		st.err = err
		return err
	}
	st.batch.Reset()
	return nil
}

func totals(touch uint64, total int64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, touch), uint64(max(total, 0)))
}

// thinFloor is the fewest points thinning leaves a curve: its shape, at an
// even spacing, from the first sample to the newest.
const thinFloor = 32

// evict brings the store within its bound, going through the sensors from
// the one whose newest snapshot is oldest: a curve of more than thinFloor
// points is thinned (every second point dropped) down to thinFloor, a
// curve already that short is dropped whole, until the store fits. So a
// sensor's curve is thinned before it is dropped, and recent sensors are
// touched only when every older one has been.
func (st *Store) evict() error {
	it := st.db.NewIterator(util.BytesPrefix([]byte{'u'}), nil)
	defer it.Release()
	for st.total > st.maxBytes && it.Next() {
		sensor := string(it.Value())
		m, err := st.meta(sensor)
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if m.np <= thinFloor {
			for k := uint64(0); k < m.np; k++ {
				st.batch.Delete(pointKey(sensor, k*m.stride))
			}
			st.batch.Delete(metaKey(sensor))
			st.batch.Delete(append([]byte(nil), it.Key()...))
			st.total -= m.pointBytes + m.storedBytes
			continue
		}
		for m.np > thinFloor && st.total > st.maxBytes {
			if err := st.halve(sensor, m); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return st.writeLocked()
}

// Points returns a sensor's kept snapshots, oldest first, ending with the
// newest one; nil for a sensor without any.
func (st *Store) Points(sensor string) []schema.Snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.flushLocked() != nil {
		return nil
	}
	m, err := st.meta(sensor)
	if err != nil || m == nil {
		return nil
	}
	out := make([]schema.Snapshot, 0, m.np+1)
	it := st.db.NewIterator(util.BytesPrefix(pointPrefix(sensor)), nil)
	for it.Next() {
		if s, err := decodePoint(sensor, it.Value()); err == nil {
			out = append(out, s)
		}
	}
	it.Release()
	if m.last != nil && (len(out) == 0 || out[len(out)-1].Samples < m.lastSamples) {
		if s, err := decodePoint(sensor, m.last); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// Latest returns a sensor's newest snapshot.
func (st *Store) Latest(sensor string) (schema.Snapshot, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.flushLocked() != nil {
		return schema.Snapshot{}, false
	}
	m, err := st.meta(sensor)
	if err != nil || m == nil {
		return schema.Snapshot{}, false
	}
	last := m.last
	if last == nil && m.np > 0 {
		if last, err = st.db.Get(pointKey(sensor, (m.np-1)*m.stride), nil); err != nil {
			return schema.Snapshot{}, false
		}
	}
	s, err := decodePoint(sensor, last)
	return s, err == nil
}

// Sensors lists the sensors with a history, sorted.
func (st *Store) Sensors() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.flushLocked() != nil {
		return nil
	}
	var out []string
	it := st.db.NewIterator(util.BytesPrefix([]byte{'m'}), nil)
	for it.Next() {
		out = append(out, string(it.Key()[1:]))
	}
	it.Release()
	return out
}

func metaKey(sensor string) []byte { return append([]byte{'m'}, sensor...) }

func touchKey(touch uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'u'}, touch)
}

func pointPrefix(sensor string) []byte {
	return append(binary.AppendUvarint([]byte{'p'}, uint64(len(sensor))), sensor...)
}

func pointKey(sensor string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(pointPrefix(sensor), seq)
}

func encodeMeta(m *meta) []byte {
	b := make([]byte, 0, 40+len(m.last))
	for _, v := range []uint64{m.stride, m.seq, m.np, m.touch, uint64(m.pointBytes), m.lastSamples} {
		b = binary.AppendUvarint(b, v)
	}
	return append(b, m.last...)
}

func decodeMeta(b []byte) (*meta, error) {
	var vs [6]uint64
	for i := range vs {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("damaged series")
		}
		vs[i], b = v, b[n:]
	}
	m := &meta{stride: vs[0], seq: vs[1], np: vs[2], touch: vs[3], pointBytes: int64(vs[4]), lastSamples: vs[5]}
	if len(b) > 0 {
		m.last = append([]byte(nil), b...)
	}
	return m, nil
}

// encodePoint is the compact form of what a curve shows of a snapshot:
// counts, time, and each model's parameters and θ (float64 bits as they
// are, so that the curves are the snapshots' to the bit).
func encodePoint(s schema.Snapshot) []byte {
	b := make([]byte, 0, 32+len(s.Models)*(48+8*s.Dim))
	b = binary.AppendUvarint(b, s.Samples)
	b = binary.AppendUvarint(b, s.Rejected)
	b = binary.AppendVarint(b, s.UpdatedMs)
	b = binary.AppendVarint(b, int64(s.Dim))
	b = binary.AppendUvarint(b, uint64(len(s.Models)))
	f := func(v float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v)) }
	for _, m := range s.Models {
		b = binary.AppendUvarint(b, uint64(len(m.Name)))
		b = append(b, m.Name...)
		f(m.Lambda)
		f(m.Delta)
		b = binary.AppendUvarint(b, uint64(len(m.Theta)))
		for _, v := range m.Theta {
			f(v)
		}
		f(m.MSE)
		f(m.RecentMSE)
		f(m.PTrace)
		b = binary.AppendUvarint(b, m.Samples)
	}
	return b
}

var errPoint = errors.New("damaged point")

func decodePoint(sensor string, b []byte) (schema.Snapshot, error) {
	s := schema.Snapshot{Sensor: sensor, Models: []schema.Model{}}
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	f := func() float64 {
		if len(b) < 8 {
			bad = true
			return 0
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return v
	}
	s.Samples, s.Rejected = uv(), uv()
	s.SetUpdated(sv())
	s.Dim = int(sv())
	nm := uv()
	for i := uint64(0); i < nm && !bad; i++ {
		var m schema.Model
		nl := uv()
		if nl > uint64(len(b)) {
			return s, errPoint
		}
		m.Name, b = string(b[:nl]), b[nl:]
		m.Lambda, m.Delta = f(), f()
		nt := uv()
		if nt > uint64(len(b))/8 {
			return s, errPoint
		}
		m.Theta = make([]float64, nt)
		for j := range m.Theta {
			m.Theta[j] = f()
		}
		m.MSE, m.RecentMSE, m.PTrace = f(), f(), f()
		m.Samples = uv()
		s.Models = append(s.Models, m)
	}
	if bad {
		return s, errPoint
	}
	return s, nil
}
