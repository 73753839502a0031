package tablestore

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkWriteStates rewrites the states of 12,500 sensors (one
// partition's share of 100,000, numbered as the emitter numbers them) four
// times through Set, as the processor's batches do, each value a fresh
// allocation, flushing every MaxPending bytes as the store does: the cost
// of the local copy per state write.
func BenchmarkWriteStates(b *testing.B) {
	const sensors, rewrites = 12500, 4
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, sensors)
	values := make([][]byte, sensors*rewrites)
	for i := range keys {
		keys[i] = strconv.Itoa(8*i + 1)
	}
	for i := range values {
		values[i] = make([]byte, 1326)
		for j := range values[i] {
			values[i][j] = byte(rng.Uint32())
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		st, err := StorageBuilder(b.TempDir())("table", 0)
		if err != nil {
			b.Fatal(err)
		}
		for r := range rewrites {
			for i, k := range keys {
				if err := st.Set(k, values[r*sensors+i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sensors*rewrites), "ns/write")
}
