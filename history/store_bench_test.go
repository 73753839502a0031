package history_test

import (
	"fmt"
	"testing"

	"github.com/streamrls/streamrls/history"
	"github.com/streamrls/streamrls/schema"
)

// BenchmarkStoreAdd adds snapshots of 10,000 sensors in turn (dimension 3,
// the default bank) to a store on disk; BenchmarkDecodeSnapshot parses one.
func BenchmarkStoreAdd(b *testing.B) {
	st, err := history.OpenStore(b.TempDir(), 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	snaps := make([]schema.Snapshot, 10000)
	for i := range snaps {
		snaps[i] = bankSnap(fmt.Sprint(i), 1)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := snaps[i%len(snaps)]
		s.Samples = uint64(i/len(snaps) + 1)
		st.Add(s)
	}
}

func BenchmarkDecodeSnapshot(b *testing.B) {
	s := bankSnap("123456", 5)
	raw, _ := s.Encode()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := history.DecodeSnapshot([]byte("123456"), raw); err != nil {
			b.Fatal(err)
		}
	}
}
