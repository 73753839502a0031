package codec

import (
	"encoding/binary"
	"math"

	"github.com/streamrls/streamrls/rls"
)

// AppendBankV1 appends b in version 1 of the bank codec, the layout before
// the scoring state. Nothing writes it any more: it is kept so that the
// readers of old table values, this package's and those in other
// languages, can be tested against the real layout.
func AppendBankV1(dst []byte, b *rls.Bank) []byte { return appendOldBank(dst, b, 1) }

// AppendBankV2 appends b in version 2 of the bank codec, the layout before
// the anomaly state (rls.Watch); like AppendBankV1, kept for the readers'
// tests only.
func AppendBankV2(dst []byte, b *rls.Bank) []byte { return appendOldBank(dst, b, 2) }

// AppendBankV3 appends b in version 3 of the bank codec, the layout before
// the spread test; like AppendBankV1, kept for the readers' tests only.
func AppendBankV3(dst []byte, b *rls.Bank) []byte { return appendOldBank(dst, b, 3) }

// appendOldBank writes the layout of version 1, 2 or 3: version 2 adds the
// scoring state after the error figures, version 3 the anomaly state.
func appendOldBank(dst []byte, b *rls.Bank, version byte) []byte {
	n := b.Dim
	dst = append(dst, BankMagic, version)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b.Models)))
	f := func(v float64) { dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v)) }
	u := func(v uint64) { dst = binary.LittleEndian.AppendUint64(dst, v) }
	for _, m := range b.Models {
		dst = append(dst, byte(len(m.Name)))
		dst = append(dst, m.Name...)
		f(m.Lambda)
		f(m.Delta)
		f(m.MaxTrace)
		u(m.Samples)
		f(m.MSE)
		f(m.RecentMSE)
		if version >= 2 {
			f(m.Sigma2)
			u(m.Sigma2N)
			f(m.Detector.Pos)
			f(m.Detector.Neg)
			f(m.Detector.Scale)
			u(m.Detector.N)
			u(m.Anomalies)
			u(m.Drifts)
		}
		if version >= 3 {
			w := &m.Watch
			f(w.Scale)
			f(w.Level)
			f(w.Tail)
			u(w.Episodes)
			u(w.Open)
			f(w.Peak)
			u(w.Quiet)
		}
		for _, v := range m.Theta {
			f(v)
		}
		for r := 0; r < n; r++ {
			for c := r; c < n; c++ {
				f(m.P[r*n+c])
			}
		}
	}
	return dst
}
