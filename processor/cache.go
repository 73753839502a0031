package processor

import (
	"context"
	"sync"

	"github.com/lovoo/goka"

	"github.com/streamrls/streamrls/kafkaconf"
)

// DefaultCacheSize is the default bound of Handler.CacheSize: decoded
// sensor states kept between messages. A two-model bank of dimension 10
// takes about 4 kB with its work buffers, so the default is about 64 MB.
const DefaultCacheSize = 16384

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
type recordCache struct {
	mu    sync.Mutex
	parts map[int32]*partCache
	n     int // records over all partitions
}

type partCache struct {
	p     int32
	owner context.Context // the partition processor's context
	recs  map[string]*Record
	// pin is the emit options pinning a write to this partition, as a
	// slice: passing it on with ... does not allocate.
	pin        []goka.ContextOption
	pinHeaders goka.Headers
	// batch is the partition processor's open batch (batching only);
	// created and used by its callback only.
	batch *partBatch
}

// part returns the cache of partition p owned by owner, replacing one of
// an earlier owner.
func (c *recordCache) part(p int32, owner context.Context) *partCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc := c.parts[p]
	if pc != nil && pc.owner == owner {
		return pc
	}
	if c.parts == nil {
		c.parts = map[int32]*partCache{}
	}
	if pc != nil {
		c.n -= len(pc.recs)
	}
	pin := goka.Headers{kafkaconf.PartitionHeader: kafkaconf.PartitionBytes(p)}
	pc = &partCache{
		p:          p,
		owner:      owner,
		recs:       map[string]*Record{},
		pin:        []goka.ContextOption{goka.WithCtxEmitHeaders(pin)},
		pinHeaders: pin,
	}
	c.parts[p] = pc
	return pc
}

func (c *recordCache) get(pc *partCache, key string) *Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return pc.recs[key]
}

// put caches rec under key; when limit records are cached, an arbitrary
// one of the partition goes first. limit < 0 caches nothing.
func (c *recordCache) put(pc *partCache, key string, rec *Record, limit int) {
	if limit < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[pc.p] != pc {
		return // dropped by a rebalance meanwhile
	}
	if _, ok := pc.recs[key]; !ok {
		if c.n >= limit {
			for k := range pc.recs {
				delete(pc.recs, k)
				c.n--
				break
			}
			if c.n >= limit {
				return // the other partitions hold the whole budget
			}
		}
		c.n++
	}
	pc.recs[key] = rec
}

// reset drops every partition's cache.
func (c *recordCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parts, c.n = nil, 0
}

// drop forgets key's record (a deleted sensor).
func (c *recordCache) drop(pc *partCache, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := pc.recs[key]; ok {
		delete(pc.recs, key)
		c.n--
	}
}

// dropPartition forgets key's record in partition p, whoever owns it.
func (c *recordCache) dropPartition(p int32, key string) {
	c.mu.Lock()
	pc := c.parts[p]
	c.mu.Unlock()
	if pc != nil {
		c.drop(pc, key)
	}
}
