package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/rls"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	metas := []Meta{
		{Offset: -1},
		{Partition: 3, Offset: 123456789, Samples: 20000, Rejected: 2, Updated: 1700000000000, Dim: 10},
		{Partition: math.MaxInt32, Offset: math.MaxInt64, Samples: math.MaxUint64, Rejected: math.MaxUint64, Updated: math.MinInt64, Dim: math.MaxInt32},
		{Partition: -1, Offset: -1, Updated: -5},
	}
	for _, m := range metas {
		for _, payload := range [][]byte{nil, {}, []byte("payload"), bytes.Repeat([]byte{0xBA}, 1000)} {
			b := AppendEnvelope([]byte("xx"), m, payload)
			if string(b[:2]) != "xx" || len(b) != 2+EnvelopeHeaderLen+len(payload) {
				t.Fatalf("AppendEnvelope: %q", b)
			}
			got, p, err := SplitEnvelope(b[2:])
			if err != nil {
				t.Fatalf("SplitEnvelope(%+v): %v", m, err)
			}
			if got != m || !bytes.Equal(p, payload) {
				t.Fatalf("SplitEnvelope = %+v %q, want %+v %q", got, p, m, payload)
			}
			if len(p) > 0 && &p[0] != &b[2+EnvelopeHeaderLen] {
				t.Fatal("payload does not alias the input")
			}
			if cap(p) != len(p) {
				t.Fatal("payload capacity reaches past the value: an append could clobber the caller's bytes")
			}
		}
	}
}

func TestEnvelopeLayout(t *testing.T) {
	b := AppendEnvelope(nil, Meta{Partition: 1, Offset: 2, Samples: 3, Rejected: 4, Updated: 5, Dim: 6}, []byte{0xAA})
	want := []byte{0xE5, 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
		4, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0xAA}
	if !bytes.Equal(b, want) {
		t.Fatalf("envelope = % x\nwant       % x", b, want)
	}
}

func TestEnvelopeErrors(t *testing.T) {
	good := AppendEnvelope(nil, Meta{Offset: 7, Dim: 3}, []byte("p"))
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		in     []byte
		reason string
		detail string
	}{
		{nil, ReasonEmpty, "no bytes"},
		{[]byte{0xE4, 1}, ReasonBadMagic, "0xe4"},
		{[]byte{0xE5}, ReasonTruncated, "byte 1"},
		{[]byte{0xE5, 3}, ReasonVersion, "version 3 unsupported"},
		{good[:41], ReasonTruncated, "byte 41"},
		{mod(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[6:], uint64(math.MaxUint64-1)); return b }), ReasonBadValue, "offset -2"},
		{mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[38:], math.MaxUint32); return b }), ReasonBadValue, "dim -1"},
	}
	for _, c := range cases {
		_, _, err := SplitEnvelope(c.in)
		var se *StateError
		if !errors.As(err, &se) || se.Reason != c.reason || se.Codec != "envelope" || !strings.Contains(se.Detail, c.detail) {
			t.Errorf("SplitEnvelope(% x) = %v; want reason %s, detail containing %q", c.in, err, c.reason, c.detail)
		}
	}
}

// testBank returns a bank with trained models (real rls updates).
func testBank(t testing.TB, dim, samples int) *rls.Bank {
	specs := append(rls.DefaultSpecs(), rls.Spec{Name: "fast-λ", Lambda: 0.9, Delta: 0.5})
	b := rls.NewBank(specs, dim)
	b.Models[2].MaxTrace = math.Inf(1)
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, dim)
	for range samples {
		y := 0.0
		for j := range x {
			x[j] = r.NormFloat64()
			y += float64(j+1) * x[j]
		}
		if err := b.Update(x, y+0.1*r.NormFloat64()); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func sameBank(a, b *rls.Bank) string {
	if a.Dim != b.Dim || len(a.Models) != len(b.Models) {
		return "dim or model count differ"
	}
	bits := math.Float64bits
	for i := range a.Models {
		m, o := a.Models[i], b.Models[i]
		if m.Name != o.Name || bits(m.Lambda) != bits(o.Lambda) || bits(m.Delta) != bits(o.Delta) ||
			bits(m.MaxTrace) != bits(o.MaxTrace) || m.Samples != o.Samples || bits(m.MSE) != bits(o.MSE) ||
			bits(m.RecentMSE) != bits(o.RecentMSE) || m.Dim != o.Dim || len(m.Theta) != len(o.Theta) || len(m.P) != len(o.P) ||
			bits(m.Sigma2) != bits(o.Sigma2) || m.Sigma2N != o.Sigma2N || bits(m.Detector.Pos) != bits(o.Detector.Pos) ||
			bits(m.Detector.Neg) != bits(o.Detector.Neg) || bits(m.Detector.Scale) != bits(o.Detector.Scale) ||
			m.Detector.N != o.Detector.N || m.Anomalies != o.Anomalies || m.Drifts != o.Drifts || m.Watch != o.Watch {
			return "model " + m.Name + " scalars differ"
		}
		for j := range m.Theta {
			if bits(m.Theta[j]) != bits(o.Theta[j]) {
				return "theta differs"
			}
		}
		for j := range m.P {
			if bits(m.P[j]) != bits(o.P[j]) {
				return "P differs"
			}
		}
	}
	return ""
}

func TestBankRoundTrip(t *testing.T) {
	for _, dim := range []int{0, 1, 2, 10, 33} {
		for _, n := range []int{0, 1, 500} {
			if dim == 0 && n > 0 {
				continue
			}
			b := testBank(t, dim, n)
			enc := AppendBank([]byte{1, 2, 3}, b)
			if want := 3 + BankHeaderLen + 3*(bankModelSize(dim)) + len("mod1mod2fast-λ"); len(enc) != want {
				t.Fatalf("dim %d: %d bytes, want %d", dim, len(enc), want)
			}
			enc = enc[3:]
			got, err := DecodeBank(enc)
			if err != nil {
				t.Fatalf("dim %d: DecodeBank: %v", dim, err)
			}
			if d := sameBank(got, b); d != "" {
				t.Fatalf("dim %d n %d: %s", dim, n, d)
			}
			if err := got.Check(); err != nil {
				t.Fatalf("decoded bank fails Check: %v", err)
			}
			if again := AppendBank(nil, got); !bytes.Equal(again, enc) {
				t.Fatal("re-encoding a decoded bank changed the bytes")
			}
			// The decoded bank keeps learning exactly like the original.
			if dim > 0 {
				x := make([]float64, dim)
				x[0] = 1
				if err := b.Update(x, 2); err != nil {
					t.Fatal(err)
				}
				if err := got.Update(x, 2); err != nil {
					t.Fatal(err)
				}
				if d := sameBank(got, b); d != "" {
					t.Fatalf("after an update: %s", d)
				}
			}
		}
	}
}

func TestBankLayout(t *testing.T) {
	b := &rls.Bank{Dim: 2, Models: []*rls.Model{{
		Spec: rls.Spec{Name: "m", Lambda: 1, Delta: 2}, Dim: 2,
		Theta: []float64{3, 4}, P: []float64{5, 6, 6, 7}, Samples: 8, MSE: 9, RecentMSE: 10, MaxTrace: 11,
		Sigma2: 12, Sigma2N: 13, Detector: rls.Detector{Pos: 14, Neg: 15, Scale: 16, N: 17}, Anomalies: 18, Drifts: 19,
		Watch: rls.Watch{Scale: 20, Level: 21, Tail: 22, Episodes: 23, Open: 24, Peak: 25, Quiet: 26,
			SpreadN: 27, SpreadMean: -28, SpreadVar: 29, SpreadShort: -30, SpreadTail: 31, SpreadSide: -1},
	}}}
	got := AppendBank(nil, b)
	f := func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }
	want := []byte{0xBA, 4, 2, 0, 0, 0, 1, 0, 0, 0, 1, 'm'}
	for _, v := range []float64{1, 2, 11} {
		want = append(want, f(v)...)
	}
	want = binary.LittleEndian.AppendUint64(want, 8)
	for _, v := range []float64{9, 10, 12} {
		want = append(want, f(v)...)
	}
	want = binary.LittleEndian.AppendUint64(want, 13)
	for _, v := range []float64{14, 15, 16} {
		want = append(want, f(v)...)
	}
	for _, v := range []uint64{17, 18, 19} {
		want = binary.LittleEndian.AppendUint64(want, v)
	}
	for _, v := range []float64{20, 21, 22} {
		want = append(want, f(v)...)
	}
	want = binary.LittleEndian.AppendUint64(want, 23)
	want = binary.LittleEndian.AppendUint64(want, 24)
	want = append(want, f(25)...)
	want = binary.LittleEndian.AppendUint64(want, 26)
	want = binary.LittleEndian.AppendUint64(want, 27)
	for _, v := range []float64{-28, 29, -30, 31} {
		want = append(want, f(v)...)
	}
	want = binary.LittleEndian.AppendUint64(want, 1<<64-1) // −1
	for _, v := range []float64{3, 4, 5, 6, 7} {
		want = append(want, f(v)...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bank = % x\nwant   % x", got, want)
	}
}

func TestBankErrors(t *testing.T) {
	good := AppendBank(nil, testBank(t, 3, 10))
	// offsets inside model 0 (name "mod1")
	const m0 = BankHeaderLen + 1 + 4
	put := func(off int, v float64) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint64(b[off:], math.Float64bits(v))
		return b
	}
	set := func(off int, vals ...byte) []byte {
		b := append([]byte(nil), good...)
		copy(b[off:], vals)
		return b
	}
	theta := m0 + bankModelFixed
	pDiag1 := theta + 3*8 + 3*8 // P[1][1]: after P[0][0..2]
	cases := []struct {
		name   string
		in     []byte
		reason string
		detail string
	}{
		{"empty", nil, ReasonEmpty, "no bytes"},
		{"magic", []byte{0xE5, 1}, ReasonBadMagic, "0xe5"},
		{"no version", good[:1], ReasonTruncated, "byte 1"},
		{"version", set(1, 9), ReasonVersion, "version 9"},
		{"short header", good[:9], ReasonTruncated, "byte 9"},
		{"huge dim", set(2, 0, 0, 0, 1), ReasonTooLarge, "dim 16777216"},
		{"no models", set(6, 0, 0, 0, 0), ReasonBadValue, "no models"},
		{"huge count", set(6, 0xff, 0xff, 0xff, 0xff), ReasonTruncated, "4294967295 models"},
		{"count+1", set(6, 4), ReasonTruncated, "4 models"},
		{"truncated", good[:len(good)-1], ReasonTruncated, "model 2"},
		{"trailing", append(append([]byte(nil), good...), 0), ReasonTrailing, "1 extra bytes"},
		{"dim+1", set(2, 4), ReasonTruncated, "model"},
		{"dim-1", set(2, 2), ReasonBadValue, ""},
		{"empty name", set(BankHeaderLen, 0), ReasonBadValue, "empty name"},
		{"name colon", set(BankHeaderLen+1, ':'), ReasonBadValue, "contains ':'"},
		{"name control", set(BankHeaderLen+1, '\n'), ReasonBadValue, "control"},
		{"name utf8", set(BankHeaderLen+1, 0xff), ReasonBadValue, "UTF-8"},
		{"name dup", set(BankHeaderLen+bankModelSize(3)+4+4, '1'), ReasonBadValue, "also model 0"},
		{"lambda 0", put(m0, 0), ReasonBadValue, "lambda 0"},
		{"lambda >1", put(m0, 1.5), ReasonBadValue, "lambda 1.5"},
		{"lambda NaN", put(m0, math.NaN()), ReasonBadValue, "lambda NaN"},
		{"delta inf", put(m0+8, math.Inf(1)), ReasonBadValue, "delta +Inf"},
		{"delta 0", put(m0+8, 0), ReasonBadValue, "delta 0"},
		{"maxTrace NaN", put(m0+16, math.NaN()), ReasonBadValue, "maxTrace"},
		{"spread mean inf", put(m0+176, math.Inf(-1)), ReasonBadValue, "spread mean -Inf"},
		{"spread var <0", put(m0+184, -1), ReasonBadValue, "spread var -1"},
		{"spread side 2", set(m0+208, 2), ReasonBadValue, "spread side 2"},
		{"mse -1", put(m0+32, -1), ReasonBadValue, "mse -1"},
		{"recent inf", put(m0+40, math.Inf(1)), ReasonBadValue, "recentMSE +Inf"},
		{"sigma2 -1", put(m0+48, -1), ReasonBadValue, "sigma2 -1"},
		{"detector pos NaN", put(m0+64, math.NaN()), ReasonBadValue, "detector pos NaN"},
		{"detector neg inf", put(m0+72, math.Inf(1)), ReasonBadValue, "detector neg +Inf"},
		{"detector scale -1", put(m0+80, -1), ReasonBadValue, "detector scale -1"},
		{"theta NaN", put(theta+8, math.NaN()), ReasonBadValue, "theta[1]"},
		{"P diag 0", put(pDiag1, 0), ReasonBadValue, "P[1][1] = 0"},
		{"P off-diagonal inf", put(pDiag1+8, math.Inf(-1)), ReasonBadValue, "P[1][2] = -Inf"},
	}
	for _, c := range cases {
		dst := testBank(t, 2, 3)
		before := AppendBank(nil, dst)
		err := DecodeBankInto(dst, c.in)
		var se *StateError
		if !errors.As(err, &se) || se.Reason != c.reason || se.Codec != "bank" || !strings.Contains(se.Detail, c.detail) {
			t.Errorf("%s: DecodeBankInto = %v; want reason %s, detail containing %q", c.name, err, c.reason, c.detail)
		}
		if !bytes.Equal(AppendBank(nil, dst), before) {
			t.Errorf("%s: a failed DecodeBankInto changed dst", c.name)
		}
	}
	// Negative MaxTrace is legal (the default cap) and a non-finite MaxTrace of +Inf too.
	for _, v := range []float64{-1, math.Inf(1), math.Inf(-1)} {
		if _, err := DecodeBank(put(m0+16, v)); err != nil {
			t.Errorf("maxTrace %v: %v", v, err)
		}
	}
}

func TestAppendBankPanics(t *testing.T) {
	bad := []*rls.Bank{
		{Dim: 2, Models: []*rls.Model{{Spec: rls.Spec{Name: "a", Lambda: 1, Delta: 1}, Dim: 2, Theta: make([]float64, 1), P: make([]float64, 4)}}},
		{Dim: 2, Models: []*rls.Model{{Spec: rls.Spec{Name: "a", Lambda: 1, Delta: 1}, Dim: 3, Theta: make([]float64, 2), P: make([]float64, 4)}}},
		{Dim: 1, Models: []*rls.Model{{Spec: rls.Spec{Name: strings.Repeat("a", 256), Lambda: 1, Delta: 1}, Dim: 1, Theta: make([]float64, 1), P: make([]float64, 1)}}},
		{Dim: -1},
	}
	for i, b := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("bank %d: AppendBank did not panic", i)
				}
			}()
			AppendBank(nil, b)
		}()
	}
}

func TestBankAllocs(t *testing.T) {
	b := testBank(t, 10, 100)
	buf := AppendBank(nil, b)
	if a := testing.AllocsPerRun(100, func() { buf = AppendBank(buf[:0], b) }); a != 0 {
		t.Errorf("AppendBank into a buffer with room: %v allocs, want 0", a)
	}
	dst := new(rls.Bank)
	if err := DecodeBankInto(dst, buf); err != nil {
		t.Fatal(err)
	}
	models := append([]*rls.Model(nil), dst.Models...)
	if a := testing.AllocsPerRun(100, func() {
		if err := DecodeBankInto(dst, buf); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("DecodeBankInto a bank of the same shape: %v allocs, want 0", a)
	}
	for i := range models {
		if dst.Models[i] != models[i] {
			t.Errorf("model %d was not reused", i)
		}
	}
	if d := sameBank(dst, b); d != "" {
		t.Fatal(d)
	}
	// A different shape: models are replaced, the result is still exact.
	small := testBank(t, 2, 5)
	if err := DecodeBankInto(dst, AppendBank(nil, small)); err != nil {
		t.Fatal(err)
	}
	if d := sameBank(dst, small); d != "" {
		t.Fatal(d)
	}
	one := &rls.Bank{Dim: 2, Models: small.Models[:1]}
	if err := DecodeBankInto(dst, AppendBank(nil, one)); err != nil {
		t.Fatal(err)
	}
	if d := sameBank(dst, one); d != "" {
		t.Fatal(d)
	}
}
