package codec

import (
	"testing"

	"github.com/streamrls/streamrls/rls"
)

func benchBatch(n, dim int) []Sample {
	batch := make([]Sample, n)
	for i := range batch {
		x := make([]float64, dim)
		for j := range x {
			x[j] = float64(i*dim+j)*0.001234 - 0.5
		}
		batch[i] = Sample{X: x, Y: float64(i) * 1.9043, Seq: int64(i), HasSeq: true, TS: 1700000000000 + int64(i)}
	}
	return batch
}

// BenchmarkDecode: one sample of n = 10, and a micro-batch of 100 such
// samples, in each format (text carries single samples only).
func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{1, 100} {
		for _, f := range Formats {
			if f == FormatText && size > 1 {
				continue
			}
			value := Encode(f, nil, benchBatch(size, 10))
			b.Run(f.String()+"/batch="+itoa(size), func(b *testing.B) {
				var d Decoder
				benchDecode(b, d.Decode, value)
			})
		}
	}
}

// benchDecode times decode of value.
func benchDecode(b *testing.B, decode func([]byte) ([]Sample, error), value []byte) {
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, size := range []int{1, 100} {
		for _, f := range Formats {
			if f == FormatText && size > 1 {
				continue
			}
			batch := benchBatch(size, 10)
			b.Run(f.String()+"/batch="+itoa(size), func(b *testing.B) {
				buf := Encode(f, nil, batch)
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					buf = Encode(f, buf[:0], batch)
				}
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// benchBank is the default bank (mod1, mod2) at n = 10 after some updates.
func benchBank(b *testing.B) *rls.Bank {
	bank := rls.NewBank(rls.DefaultSpecs(), 10)
	for _, s := range benchBatch(100, 10) {
		if err := bank.Update(s.X, s.Y); err != nil {
			b.Fatal(err)
		}
	}
	return bank
}

func BenchmarkAppendBank(b *testing.B) {
	bank := benchBank(b)
	buf := AppendBank(nil, bank)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBank(buf[:0], bank)
	}
}

func BenchmarkDecodeBankInto(b *testing.B) {
	buf := AppendBank(nil, benchBank(b))
	dst := new(rls.Bank)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeBankInto(dst, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitEnvelope(b *testing.B) {
	buf := AppendEnvelope(nil, Meta{Partition: 1, Offset: 2, Dim: 10}, AppendBank(nil, benchBank(b)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := SplitEnvelope(buf); err != nil {
			b.Fatal(err)
		}
	}
}
