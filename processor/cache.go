package processor

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/exactlyonce"
)

// Bounds of the decoded sensor states kept between messages.
//
// DefaultCacheSize is the default of Handler.CacheSize, in records; it is
// high enough that DefaultCacheBytes binds first with the default bank.
//
// DefaultCacheBytes bounds the memory of the cached records of a Handler
// (estimated from their models' arrays; see recordBytes). A state that
// left the cache is read back from LevelDB and decoded, which costs more
// than applying a sample to it, so the default is sized to keep every
// state of a processor with many sensors of the default bank (the figures
// are in docs/performance.md).
const (
	DefaultCacheSize  = 1 << 20
	DefaultCacheBytes = 256 << 20
)

// recordCache keeps the decoded *Record of recently updated sensors per
// input partition, so that a message does not read its sensor's state back
// from the local table and decode it again.
//
// It is exact, not a heuristic: while a goka partition processor runs, this
// callback is the only writer of its partition's table (the processor's own
// writes are pinned to the input partition), so a cached record is the
// value last written to the table. The cache of a partition belongs to the
// partition processor that filled it, recognised by the context goka gives
// its callbacks (a new one for every partition processor it starts), and
// the whole cache is dropped at every rebalance (goka calls the rebalance
// callback after stopping every partition processor and before starting the
// new ones). A restart after an error builds a new Handler. So a partition
// that is recovered again — moved to another process and back, rebuilt from
// the changelog — never sees a stale record. A message whose processing
// fails stops the processor before the next message of its partition.
//
// Each partition's records have a lock of their own, and the totals the
// bounds apply to are atomic: the partitions' callbacks run at once, and at
// many sensors a lookup waits on memory, so one lock over every partition
// would make them queue behind each other.
type recordCache struct {
	mu     sync.Mutex   // serialises replacing a partition's cache
	parts  sync.Map     // int32 → *partCache
	n      atomic.Int64 // records over all partitions
	bytes  atomic.Int64 // their recordBytes
	budget int          // bound of bytes; 0: DefaultCacheBytes
}

// cached is a record and the bytes it was counted for.
type cached struct {
	rec   *Record
	bytes int
}

// Estimated memory of a cached record besides its models' arrays: the
// Record and its map entry, and per model the rls.Model and the slice
// headers. Enough for a bound, not an account.
const (
	cachedOverhead = 256
	modelOverhead  = 192
)

// recordBytes estimates the memory of rec: its models' arrays and their
// headers for a bank, its encoded size otherwise.
func recordBytes(rec *Record) int {
	n := cachedOverhead
	if bs, ok := rec.State.(*BankState); ok && bs.Bank != nil {
		for _, m := range bs.Bank.Models {
			n += modelOverhead + 8*(cap(m.Theta)+cap(m.P))
		}
		return n
	}
	return n + rec.size
}

type partCache struct {
	p     int32
	owner context.Context // the partition processor's context
	// mu guards recs and dropped.
	mu   sync.Mutex
	recs map[string]cached
	// dropped says a rebalance or a new owner dropped this cache: its
	// records are out of the totals, and it takes no new ones.
	dropped bool
	// pin and pinHeaders pin a table write to this partition, as goka's
	// emit options and as headers.
	pin        []goka.ContextOption
	pinHeaders goka.Headers
	// batch is the partition processor's batch (see Handler.output);
	// made and used by its callback only.
	batch output
}

// part returns the cache of partition p owned by owner, replacing one of
// an earlier owner.
func (c *recordCache) part(p int32, owner context.Context) *partCache {
	if pc := c.load(p); pc != nil && pc.owner == owner {
		return pc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pc := c.load(p)
	if pc != nil && pc.owner == owner {
		return pc
	}
	if pc != nil {
		c.dropPart(pc)
	}
	pin := goka.Headers{exactlyonce.PartitionHeader: exactlyonce.PartitionBytes(p)}
	pc = &partCache{
		p:          p,
		owner:      owner,
		recs:       map[string]cached{},
		pin:        []goka.ContextOption{goka.WithCtxEmitHeaders(pin)},
		pinHeaders: pin,
	}
	c.parts.Store(p, pc)
	return pc
}

// load returns partition p's cache, nil if none.
func (c *recordCache) load(p int32) *partCache {
	v, _ := c.parts.Load(p)
	pc, _ := v.(*partCache)
	return pc
}

// dropPart uncounts pc's records and marks it dropped.
func (c *recordCache) dropPart(pc *partCache) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dropped {
		return
	}
	pc.dropped = true
	var bytes int
	for _, e := range pc.recs {
		bytes += e.bytes
	}
	c.n.Add(-int64(len(pc.recs)))
	c.bytes.Add(-int64(bytes))
}

// get returns key's cached record (rec nil: none).
func (c *recordCache) get(pc *partCache, key string) cached {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.recs[key]
}

// put caches rec under key, unless was — what get returned for it —
// already holds it at its size: most messages update a cached state in
// place, and a map access per message counts at many sensors. When limit
// records are cached, or the budget of bytes would be exceeded, arbitrary
// ones of the partition go first. limit < 0 caches nothing. Partitions
// that put at the same moment may pass the bounds by a record each.
func (c *recordCache) put(pc *partCache, key string, rec *Record, was cached, limit int) {
	e := cached{rec: rec, bytes: recordBytes(rec)}
	if limit < 0 || was == e {
		return
	}
	budget := int64(c.budget)
	if budget == 0 {
		budget = DefaultCacheBytes
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dropped {
		return // dropped by a rebalance meanwhile
	}
	if old, ok := pc.recs[key]; ok {
		c.n.Add(-1)
		c.bytes.Add(-int64(old.bytes))
		delete(pc.recs, key)
	}
	for c.n.Load() >= int64(limit) || c.bytes.Load()+int64(e.bytes) > budget {
		if !c.evict(pc) {
			return // the other partitions hold the whole budget
		}
	}
	c.n.Add(1)
	c.bytes.Add(int64(e.bytes))
	pc.recs[key] = e
}

// evict drops an arbitrary record of pc; false if it has none. The caller
// holds pc.mu.
func (c *recordCache) evict(pc *partCache) bool {
	for k, e := range pc.recs {
		delete(pc.recs, k)
		c.n.Add(-1)
		c.bytes.Add(-int64(e.bytes))
		return true
	}
	return false
}

// reset drops every partition's cache.
func (c *recordCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parts.Range(func(_, v any) bool {
		c.dropPart(v.(*partCache))
		return true
	})
	c.parts.Clear()
}

// drop forgets key's record (a deleted sensor).
func (c *recordCache) drop(pc *partCache, key string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if e, ok := pc.recs[key]; ok && !pc.dropped {
		delete(pc.recs, key)
		c.n.Add(-1)
		c.bytes.Add(-int64(e.bytes))
	}
}

// dropPartition forgets key's record in partition p, whoever owns it.
func (c *recordCache) dropPartition(p int32, key string) {
	if pc := c.load(p); pc != nil {
		c.drop(pc, key)
	}
}
