package view

import (
	"slices"
	"sync"

	"github.com/google/btree"
)

// idSet is the sorted set of the sensor IDs of one partition's local copy,
// kept in memory once the partition is recovered (see counted), so that a
// page of IDs reads no LevelDB: a LevelDB iterator reads every value on
// its way (a key and its 1.3 kB state share a block), 13 MB for a page of
// 10,000 IDs. About 40 bytes a sensor.
type idSet struct {
	mu sync.RWMutex
	t  *btree.BTreeG[string]
}

func newIDSet() *idSet { return &idSet{t: btree.NewOrderedG[string](32)} }

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.ReplaceOrInsert(id)
}

func (s *idSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Delete(id)
}

func (s *idSet) has(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.Has(id)
}

// after appends to dst the first n IDs that sort after after.
func (s *idSet) after(dst []string, after string, n int) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// after+"\x00" is the smallest string above after.
	s.t.AscendGreaterOrEqual(after+"\x00", func(id string) bool {
		dst = append(dst, id)
		return len(dst) < n
	})
	return dst
}

// idChunk is how many IDs a merge round takes from each partition.
const idChunk = 1024

// mergeIDs yields, in byte order and each once, the IDs after after of
// every set, in rounds: a round takes up to idChunk IDs from each set, and
// yields the merged ones up to the smallest last ID of a set that filled
// its chunk (a set with a shorter chunk has none left; any ID up to that
// bound of every set is in the round). It holds no lock while it yields.
func mergeIDs(sets []*idSet, after string, yield func(string) bool) {
	var round, chunk []string
	for {
		round = round[:0]
		bound, full := "", false
		for _, s := range sets {
			chunk = s.after(chunk[:0], after, idChunk)
			if len(chunk) == idChunk {
				if last := chunk[len(chunk)-1]; !full || last < bound {
					bound, full = last, true
				}
			}
			round = append(round, chunk...)
		}
		slices.Sort(round)
		round = slices.Compact(round)
		for _, id := range round {
			if full && id > bound {
				break
			}
			if !yield(id) {
				return
			}
			after = id
		}
		if !full {
			return
		}
	}
}
