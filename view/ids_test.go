package view

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestMergeIDs: the merged ID sets of several partitions, from any after,
// are the sorted union of their IDs above it, each once (a sensor may be in
// two partitions), across many rounds; a stop is honoured.
func TestMergeIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := make([]*idSet, 8)
	for i := range sets {
		sets[i] = newIDSet()
	}
	union := map[string]bool{}
	for range 20000 {
		id := strconv.Itoa(rng.IntN(1_000_000))
		sets[rng.IntN(len(sets))].add(id)
		if rng.IntN(20) == 0 { // also in a second partition
			sets[rng.IntN(len(sets))].add(id)
		}
		union[id] = true
	}
	for id := range union { // some deleted again
		if rng.IntN(10) == 0 {
			for _, s := range sets {
				s.remove(id)
			}
			delete(union, id)
		}
	}
	want := make([]string, 0, len(union))
	for id := range union {
		want = append(want, id)
	}
	slices.Sort(want)
	for _, after := range []string{"", want[0], "5", want[len(want)/2], "99999", want[len(want)-1], "\xff"} {
		var got []string
		mergeIDs(sets, after, func(id string) bool { got = append(got, id); return true })
		i, _ := slices.BinarySearch(want, after+"\x00")
		if !slices.Equal(got, want[i:]) {
			t.Errorf("after %q: %d IDs, want %d (first %v, want %v)", after, len(got), len(want)-i, got[:min(3, len(got))], want[i:min(i+3, len(want))])
		}
	}
	var got []string
	mergeIDs(sets, "", func(id string) bool { got = append(got, id); return len(got) < 5000 })
	if !slices.Equal(got, want[:5000]) {
		t.Errorf("stopped after 5000: got %d IDs, not the first 5000", len(got))
	}
}
