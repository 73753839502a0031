package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/streamrls/streamrls/rls"
)

// The RLS bank state (see the package documentation).
const (
	BankMagic byte = 0xBA
	// BankVersion is the version AppendBank writes. DecodeBank also reads
	// version 1, which has no scoring state: its models decode with σ̂²
	// unknown (0), the detector at its start and zero counts; and version
	// 2, which has no anomaly state (rls.Watch): its models decode with the
	// robust scale unknown, the threshold at its start and no episode;
	// and version 3, which has no spread test: its models decode with
	// that test at its start (it warms up again).
	BankVersion   byte = 4
	BankHeaderLen      = 10 // magic, version, dim, count
	// MaxBankDim is the largest bank dimension DecodeBank accepts.
	MaxBankDim = 1 << 16
	// MaxModelName is the longest model name, in bytes, the bank codec carries.
	MaxModelName = rls.MaxNameBytes

	// lambda, delta, maxTrace, samples, mse, recentMSE (version 1), then
	// sigma2, sigma2N, the detector's pos, neg, scale and n, anomalies,
	// drifts (version 2), then the anomaly state's scale, level, tail,
	// episodes, open, peak and quiet (version 3), then the spread test's
	// n, mean, var, short, tail and side (version 4)
	bankModelFixedV1 = 6 * 8
	bankModelFixedV2 = bankModelFixedV1 + 8*8
	bankModelFixedV3 = bankModelFixedV2 + 7*8
	bankModelFixed   = bankModelFixedV3 + 6*8
)

// bankModelSize is the encoded size of one model of dimension n, name
// excluded, in the current version.
func bankModelSize(n int) int { return bankModelSizeV(BankVersion, n) }

// bankModelSizeV is bankModelSize in the given version.
func bankModelSizeV(version byte, n int) int {
	return 1 + bankModelFixedV(version) + 8*n + 8*(n*(n+1)/2)
}

// bankModelFixedV is the size of a model's fixed fields in the given version.
func bankModelFixedV(version byte) int {
	switch version {
	case 1:
		return bankModelFixedV1
	case 2:
		return bankModelFixedV2
	case 3:
		return bankModelFixedV3
	}
	return bankModelFixed
}

// bankNonNeg names the fixed fields, by 8-byte index, that checkBank wants
// finite and ≥ 0 (beyond the first six, which it checks one by one).
var bankNonNeg = [bankModelFixed / 8]string{6: "sigma2", 8: "detector pos", 9: "detector neg",
	10: "detector scale", 14: "anomaly scale", 15: "anomaly level", 16: "anomaly tail",
	19: "episode peak", 23: "spread var", 25: "spread tail"}

// bankFinite names the fixed fields, by 8-byte index, that checkBank
// wants finite (of any sign).
var bankFinite = [bankModelFixed / 8]string{22: "spread mean", 24: "spread short"}

// BankSize is the encoded size of a bank of specs with dimension n.
func BankSize(specs []rls.Spec, n int) int {
	size := BankHeaderLen
	for _, s := range specs {
		size += bankModelSize(n) + len(s.Name)
	}
	return size
}

// AppendBank appends the bank's state to dst. It allocates nothing when dst
// has room. It panics when the bank is inconsistent (a model whose Dim,
// len(Theta) or len(P) do not match b.Dim, a name longer than MaxModelName):
// those are programming errors, and encoding them would write state that
// cannot be read back.
func AppendBank(dst []byte, b *rls.Bank) []byte {
	n := b.Dim
	if n < 0 || n > MaxBankDim {
		panic(fmt.Sprintf("codec: AppendBank: bank dim %d outside [0, %d]", n, MaxBankDim))
	}
	size := BankHeaderLen
	for i, m := range b.Models {
		if m.Dim != n || len(m.Theta) != n || len(m.P) != n*n {
			panic(fmt.Sprintf("codec: AppendBank: model %d (%q) has Dim %d, len(Theta) %d, len(P) %d; bank dim is %d",
				i, m.Name, m.Dim, len(m.Theta), len(m.P), n))
		}
		if len(m.Name) > MaxModelName {
			panic(fmt.Sprintf("codec: AppendBank: model %d name is %d bytes, limit %d", i, len(m.Name), MaxModelName))
		}
		size += bankModelSize(n) + len(m.Name)
	}
	dst = slices.Grow(dst, size)
	off := len(dst)
	dst = dst[:off+size]
	p := dst[off:]
	p[0], p[1] = BankMagic, BankVersion
	binary.LittleEndian.PutUint32(p[2:], uint32(n))
	binary.LittleEndian.PutUint32(p[6:], uint32(len(b.Models)))
	p = p[BankHeaderLen:]
	for _, m := range b.Models {
		p[0] = byte(len(m.Name))
		copy(p[1:], m.Name)
		p = p[1+len(m.Name):]
		binary.LittleEndian.PutUint64(p[0:], math.Float64bits(m.Lambda))
		binary.LittleEndian.PutUint64(p[8:], math.Float64bits(m.Delta))
		binary.LittleEndian.PutUint64(p[16:], math.Float64bits(m.MaxTrace))
		binary.LittleEndian.PutUint64(p[24:], m.Samples)
		binary.LittleEndian.PutUint64(p[32:], math.Float64bits(m.MSE))
		binary.LittleEndian.PutUint64(p[40:], math.Float64bits(m.RecentMSE))
		binary.LittleEndian.PutUint64(p[48:], math.Float64bits(m.Sigma2))
		binary.LittleEndian.PutUint64(p[56:], m.Sigma2N)
		binary.LittleEndian.PutUint64(p[64:], math.Float64bits(m.Detector.Pos))
		binary.LittleEndian.PutUint64(p[72:], math.Float64bits(m.Detector.Neg))
		binary.LittleEndian.PutUint64(p[80:], math.Float64bits(m.Detector.Scale))
		binary.LittleEndian.PutUint64(p[88:], m.Detector.N)
		binary.LittleEndian.PutUint64(p[96:], m.Anomalies)
		binary.LittleEndian.PutUint64(p[104:], m.Drifts)
		w := &m.Watch
		binary.LittleEndian.PutUint64(p[112:], math.Float64bits(w.Scale))
		binary.LittleEndian.PutUint64(p[120:], math.Float64bits(w.Level))
		binary.LittleEndian.PutUint64(p[128:], math.Float64bits(w.Tail))
		binary.LittleEndian.PutUint64(p[136:], w.Episodes)
		binary.LittleEndian.PutUint64(p[144:], w.Open)
		binary.LittleEndian.PutUint64(p[152:], math.Float64bits(w.Peak))
		binary.LittleEndian.PutUint64(p[160:], w.Quiet)
		binary.LittleEndian.PutUint64(p[168:], w.SpreadN)
		binary.LittleEndian.PutUint64(p[176:], math.Float64bits(w.SpreadMean))
		binary.LittleEndian.PutUint64(p[184:], math.Float64bits(w.SpreadVar))
		binary.LittleEndian.PutUint64(p[192:], math.Float64bits(w.SpreadShort))
		binary.LittleEndian.PutUint64(p[200:], math.Float64bits(w.SpreadTail))
		binary.LittleEndian.PutUint64(p[208:], uint64(int64(w.SpreadSide)))
		p = p[bankModelFixed:]
		for j, v := range m.Theta {
			binary.LittleEndian.PutUint64(p[8*j:], math.Float64bits(v))
		}
		p = p[8*n:]
		k := 0
		for r := 0; r < n; r++ {
			row := m.P[r*n+r : r*n+n]
			for _, v := range row {
				binary.LittleEndian.PutUint64(p[8*k:], math.Float64bits(v))
				k++
			}
		}
		p = p[8*k:]
	}
	return dst
}

// DecodeBank decodes a bank state into a new rls.Bank.
func DecodeBank(b []byte) (*rls.Bank, error) {
	bank := new(rls.Bank)
	if err := DecodeBankInto(bank, b); err != nil {
		return nil, err
	}
	return bank, nil
}

// DecodeBankInto decodes a bank state into dst, reusing dst's models and
// their slices when their dimension matches (then it allocates nothing).
// The bytes are treated as untrusted: everything is checked before dst is
// touched, so on error dst is unchanged. The error is a *StateError. A
// version-1 state gives models with fresh scoring state (BankVersion).
func DecodeBankInto(dst *rls.Bank, b []byte) error {
	version, n, count, err := checkBank(b)
	if err != nil {
		return err
	}
	if cap(dst.Models) < count {
		dst.Models = slices.Grow(dst.Models[:cap(dst.Models)], count-cap(dst.Models))
	}
	dst.Models = dst.Models[:count]
	dst.Dim = n
	var fresh []*rls.Model // the models dst lacks, laid out as rls.NewModels does
	p := b[BankHeaderLen:]
	for i := range count {
		m := dst.Models[i]
		if m == nil || m.Dim != n || cap(m.Theta) < n || cap(m.P) < n*n {
			if len(fresh) == 0 {
				fresh = rls.NewModels(make([]rls.Spec, count-i), n)
			}
			m, fresh = fresh[0], fresh[1:]
			dst.Models[i] = m
		}
		m.Theta, m.P = m.Theta[:n], m.P[:n*n]
		l := int(p[0])
		if name := p[1 : 1+l]; string(name) != m.Name {
			m.Name = string(name)
		}
		p = p[1+l:]
		m.Lambda = math.Float64frombits(binary.LittleEndian.Uint64(p[0:]))
		m.Delta = math.Float64frombits(binary.LittleEndian.Uint64(p[8:]))
		m.MaxTrace = math.Float64frombits(binary.LittleEndian.Uint64(p[16:]))
		m.Samples = binary.LittleEndian.Uint64(p[24:])
		m.MSE = math.Float64frombits(binary.LittleEndian.Uint64(p[32:]))
		m.RecentMSE = math.Float64frombits(binary.LittleEndian.Uint64(p[40:]))
		m.Sigma2, m.Sigma2N, m.Detector, m.Anomalies, m.Drifts = 0, 0, rls.Detector{}, 0, 0
		m.Watch = rls.Watch{}
		if version >= 2 {
			m.Sigma2 = math.Float64frombits(binary.LittleEndian.Uint64(p[48:]))
			m.Sigma2N = binary.LittleEndian.Uint64(p[56:])
			m.Detector.Pos = math.Float64frombits(binary.LittleEndian.Uint64(p[64:]))
			m.Detector.Neg = math.Float64frombits(binary.LittleEndian.Uint64(p[72:]))
			m.Detector.Scale = math.Float64frombits(binary.LittleEndian.Uint64(p[80:]))
			m.Detector.N = binary.LittleEndian.Uint64(p[88:])
			m.Anomalies = binary.LittleEndian.Uint64(p[96:])
			m.Drifts = binary.LittleEndian.Uint64(p[104:])
		}
		if version >= 3 {
			w := &m.Watch
			w.Scale = math.Float64frombits(binary.LittleEndian.Uint64(p[112:]))
			w.Level = math.Float64frombits(binary.LittleEndian.Uint64(p[120:]))
			w.Tail = math.Float64frombits(binary.LittleEndian.Uint64(p[128:]))
			w.Episodes = binary.LittleEndian.Uint64(p[136:])
			w.Open = binary.LittleEndian.Uint64(p[144:])
			w.Peak = math.Float64frombits(binary.LittleEndian.Uint64(p[152:]))
			w.Quiet = binary.LittleEndian.Uint64(p[160:])
		}
		if version >= 4 {
			w := &m.Watch
			w.SpreadN = binary.LittleEndian.Uint64(p[168:])
			w.SpreadMean = math.Float64frombits(binary.LittleEndian.Uint64(p[176:]))
			w.SpreadVar = math.Float64frombits(binary.LittleEndian.Uint64(p[184:]))
			w.SpreadShort = math.Float64frombits(binary.LittleEndian.Uint64(p[192:]))
			w.SpreadTail = math.Float64frombits(binary.LittleEndian.Uint64(p[200:]))
			w.SpreadSide = int8(int64(binary.LittleEndian.Uint64(p[208:])))
		}
		p = p[bankModelFixedV(version):]
		for j := range m.Theta {
			m.Theta[j] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*j:]))
		}
		p = p[8*n:]
		P := m.P
		for r := 0; r < n; r++ {
			for c := r; c < n; c++ {
				v := math.Float64frombits(binary.LittleEndian.Uint64(p))
				p = p[8:]
				P[r*n+c] = v
				P[c*n+r] = v
			}
		}
	}
	return nil
}

func finite(bits uint64) bool { return bits>>52&0x7ff != 0x7ff }

// checkBank validates a bank state completely and returns its version,
// dimension and model count.
func checkBank(b []byte) (version byte, n, count int, err error) {
	const c = "bank"
	if len(b) == 0 {
		return 0, 0, 0, stateErr(c, ReasonEmpty, "value has no bytes")
	}
	if b[0] != BankMagic {
		return 0, 0, 0, stateErr(c, ReasonBadMagic, "byte 0 is 0x%02x, want 0x%02x", b[0], BankMagic)
	}
	if len(b) < 2 {
		return 0, 0, 0, stateErr(c, ReasonTruncated, "truncated at byte 1: no version byte")
	}
	version = b[1]
	if version < 1 || version > BankVersion {
		return 0, 0, 0, stateErr(c, ReasonVersion, "version %d unsupported (this build reads versions 1 to %d)", version, BankVersion)
	}
	if len(b) < BankHeaderLen {
		return 0, 0, 0, stateErr(c, ReasonTruncated, "truncated at byte %d: the header has %d bytes", len(b), BankHeaderLen)
	}
	dim := binary.LittleEndian.Uint32(b[2:])
	cnt := binary.LittleEndian.Uint32(b[6:])
	if dim > MaxBankDim {
		return 0, 0, 0, stateErr(c, ReasonTooLarge, "bytes 2-5: dim %d above the limit %d", dim, MaxBankDim)
	}
	n = int(dim)
	per := bankModelSizeV(version, n) + 1 // with a name of at least one byte
	rest := len(b) - BankHeaderLen
	if uint64(cnt) > uint64(rest/per) {
		return 0, 0, 0, stateErr(c, ReasonTruncated, "header says %d models of dim %d (at least %d bytes each), value has %d bytes after the header",
			cnt, n, per, rest)
	}
	if cnt == 0 {
		return 0, 0, 0, stateErr(c, ReasonBadValue, "bytes 6-9: bank has no models")
	}
	count = int(cnt)
	var namesBuf [8][]byte // for the duplicate-name check
	names := namesBuf[:0]
	pos := BankHeaderLen
	for i := range count {
		if pos >= len(b) {
			return 0, 0, 0, stateErr(c, ReasonTruncated, "truncated at byte %d: model %d missing", pos, i)
		}
		l := int(b[pos])
		if l == 0 {
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d has an empty name", pos, i)
		}
		need := bankModelSizeV(version, n) + l
		if len(b)-pos < need {
			return 0, 0, 0, stateErr(c, ReasonTruncated, "truncated at byte %d: model %d needs %d bytes from byte %d", len(b), i, need, pos)
		}
		name := b[pos+1 : pos+1+l]
		if err := checkName(name); err != "" {
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d name %q %s", pos+1, i, name, err)
		}
		for j, o := range names {
			if string(o) == string(name) {
				return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d name %q is also model %d's", pos+1, i, name, j)
			}
		}
		names = append(names, name)
		q := pos + 1 + l
		f := func(k int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[q+8*k:])) }
		lambda, delta, maxTrace, mse, recent := f(0), f(1), f(2), f(4), f(5)
		switch {
		case !(lambda > 0 && lambda <= 1):
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) lambda %v outside (0, 1]", q, i, name, lambda)
		case !(delta > 0 && delta <= math.MaxFloat64):
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) delta %v not a finite number > 0", q+8, i, name, delta)
		case math.IsNaN(maxTrace):
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) maxTrace is NaN", q+16, i, name)
		case !(mse >= 0 && mse <= math.MaxFloat64):
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) mse %v not a finite number >= 0", q+32, i, name, mse)
		case !(recent >= 0 && recent <= math.MaxFloat64):
			return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) recentMSE %v not a finite number >= 0", q+40, i, name, recent)
		}
		fixed := bankModelFixedV(version)
		for k, field := range bankNonNeg[:fixed/8] {
			if field == "" {
				continue
			}
			if v := f(k); !(v >= 0 && v <= math.MaxFloat64) {
				return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) %s %v not a finite number >= 0", q+8*k, i, name, field, v)
			}
		}
		for k, field := range bankFinite[:fixed/8] {
			if v := f(k); field != "" && !finite(math.Float64bits(v)) {
				return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) %s %v not finite", q+8*k, i, name, field, v)
			}
		}
		if version >= 4 {
			if side := int64(binary.LittleEndian.Uint64(b[q+208:])); side < -1 || side > 1 {
				return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) spread side %d not -1, 0 or 1", q+208, i, name, side)
			}
		}
		q += fixed
		for k := 0; k < n; k++ {
			if v := binary.LittleEndian.Uint64(b[q+8*k:]); !finite(v) {
				return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) theta[%d] = %v is not finite",
					q+8*k, i, name, k, math.Float64frombits(v))
			}
		}
		q += 8 * n
		for r := 0; r < n; r++ {
			for col := r; col < n; col++ {
				v := math.Float64frombits(binary.LittleEndian.Uint64(b[q:]))
				if col == r && !(v > 0 && v <= math.MaxFloat64) {
					return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) P[%d][%d] = %v is not a finite number > 0",
						q, i, name, r, r, v)
				}
				if !finite(math.Float64bits(v)) {
					return 0, 0, 0, stateErr(c, ReasonBadValue, "byte %d: model %d (%s) P[%d][%d] = %v is not finite", q, i, name, r, col, v)
				}
				q += 8
			}
		}
		pos += need
	}
	if pos != len(b) {
		return 0, 0, 0, stateErr(c, ReasonTrailing, "%d extra bytes at byte %d after %d models", len(b)-pos, pos, count)
	}
	return version, n, count, nil
}

// checkName returns "" for a valid model name, else what is wrong with it.
func checkName(name []byte) string {
	if !utf8.Valid(name) {
		return "is not valid UTF-8"
	}
	for _, ch := range name {
		switch {
		case ch == ':':
			return "contains ':'"
		case ch < 0x20 || ch == 0x7f:
			return "contains a control character"
		}
	}
	return ""
}
