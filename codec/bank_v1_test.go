package codec

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/rls"
)

// TestBankDecodesV1: a version-1 state decodes to the same θ, P and figures,
// with fresh scoring state (σ̂² unknown, detector at its start, zero
// counts), even into a bank that had scoring state; the decoded bank then
// learns, scores and encodes as the current version.
func TestBankDecodesV1(t *testing.T) {
	b := testBank(t, 4, 300)
	if b.Models[0].Sigma2 == 0 || b.Models[0].Sigma2N != 300 {
		t.Fatalf("test bank has no scoring state: %+v", b.Models[0])
	}
	v1 := AppendBankV1(nil, b)
	if len(v1) != len(AppendBank(nil, b))-3*(64+56+48) {
		t.Fatalf("v1 state %d bytes, v4 %d: want 168 fewer per model", len(v1), len(AppendBank(nil, b)))
	}
	// The fuzz corpus holds version-1 states written by the version-1 code.
	if !bytes.Equal(AppendBankV1(nil, rls.NewBank(rls.DefaultSpecs(), 2)), fuzzSeedV1(t, "valid-default-2")) {
		t.Fatal("appendBankV1 does not write what the version-1 code wrote (testdata/fuzz/FuzzDecodeBank/valid-default-2)")
	}
	want := b.Clone()
	for _, m := range want.Models {
		m.Sigma2, m.Sigma2N, m.Detector, m.Anomalies, m.Drifts = 0, 0, rls.Detector{}, 0, 0
		m.Watch = rls.Watch{}
	}
	dst := b.Clone() // scoring state that the decode must clear
	decodeOldBank(t, dst, want, v1, AppendBankV1, "v1")
	x := []float64{1, 2, 3, 4}
	if err := dst.Update(x, 1); err != nil {
		t.Fatal(err)
	}
	if m := dst.Models[0]; m.Sigma2N != 1 || !(m.Sigma2 > 0) || !math.IsNaN(m.LastScore().Z) {
		t.Errorf("first sample after a v1 load: σ̂² %v from %d samples, z %v; want σ̂² > 0 from 1, z NaN", m.Sigma2, m.Sigma2N, m.LastScore().Z)
	}
	enc := AppendBank(nil, dst)
	if enc[1] != BankVersion {
		t.Fatalf("re-encoded version %d", enc[1])
	}
	got, err := DecodeBank(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameBank(got, dst); d != "" {
		t.Fatal(d)
	}
}

// TestBankDecodesV2: a version-2 state decodes to the same model with a
// fresh anomaly state (rls.Watch), even into a bank that had one, and
// re-encodes as version 2 byte for byte.
func TestBankDecodesV2(t *testing.T) {
	b := testBank(t, 3, 300)
	b.Models[1].Watch.Open, b.Models[1].Watch.Episodes = 2, 4
	v2 := AppendBankV2(nil, b)
	if len(v2) != len(AppendBank(nil, b))-3*(56+48) {
		t.Fatalf("v2 state %d bytes, v4 %d: want 104 fewer per model", len(v2), len(AppendBank(nil, b)))
	}
	want := b.Clone()
	for _, m := range want.Models {
		m.Watch = rls.Watch{}
	}
	dst := b.Clone()
	decodeOldBank(t, dst, want, v2, AppendBankV2, "v2")
	if err := dst.Update([]float64{1, 2, 3}, 1); err != nil {
		t.Fatal(err)
	}
}

// TestBankDecodesV3: a version-3 state decodes to the same model with the
// spread test at its start, even into a bank that had one, keeps the rest
// of the anomaly state, and re-encodes as version 3 byte for byte.
func TestBankDecodesV3(t *testing.T) {
	b := testBank(t, 3, 300)
	if b.Models[0].Watch.SpreadN != 300 || b.Models[0].Watch.Scale == 0 {
		t.Fatalf("test bank has no anomaly state: %+v", b.Models[0].Watch)
	}
	v3 := AppendBankV3(nil, b)
	if len(v3) != len(AppendBank(nil, b))-3*48 {
		t.Fatalf("v3 state %d bytes, v4 %d: want 48 fewer per model", len(v3), len(AppendBank(nil, b)))
	}
	want := b.Clone()
	for _, m := range want.Models {
		w := &m.Watch
		w.SpreadN, w.SpreadMean, w.SpreadVar, w.SpreadShort, w.SpreadTail, w.SpreadSide = 0, 0, 0, 0, 0, 0
	}
	dst := b.Clone()
	decodeOldBank(t, dst, want, v3, AppendBankV3, "v3")
	if err := dst.Update([]float64{1, 2, 3}, 1); err != nil {
		t.Fatal(err)
	}
	if w := dst.Models[0].Watch; w.SpreadN != 1 || w.SpreadVar != 1 || w.Scale == 0 {
		t.Errorf("first sample after a v3 load: %+v; want the spread test restarted, the scale kept", w)
	}
}

// decodeOldBank decodes the state old (the version vname, written by
// appendOld) into dst, which must then equal want, pass Check and encode
// to old again.
func decodeOldBank(t *testing.T, dst, want *rls.Bank, old []byte, appendOld func([]byte, *rls.Bank) []byte, vname string) {
	t.Helper()
	if err := DecodeBankInto(dst, old); err != nil {
		t.Fatal(err)
	}
	if d := sameBank(dst, want); d != "" {
		t.Fatalf("decoded %s: %s", vname, d)
	}
	if err := dst.Check(); err != nil {
		t.Fatal(err)
	}
	if again := appendOld(nil, dst); !bytes.Equal(again, old) {
		t.Fatalf("a decoded %s state re-encoded as %s differs", vname, vname)
	}
}

// TestBankRoundTripScoring: the scoring state of a bank that has seen
// drifts and anomalies survives the codec bit for bit, and the decoded bank
// goes on scoring exactly like the original.
func TestBankRoundTripScoring(t *testing.T) {
	b := testBank(t, 3, 400)
	m := b.Models[2]
	m.Anomalies, m.Drifts = 5, 2
	m.Detector = rls.Detector{Pos: 1.5, Neg: 0.25, Scale: 3, N: 77}
	m.Watch.Open, m.Watch.Peak, m.Watch.Quiet, m.Watch.Episodes, m.Watch.Tail = 3, 12.5, 2, 9, 1.25
	got, err := DecodeBank(AppendBank(nil, b))
	if err != nil {
		t.Fatal(err)
	}
	if d := sameBank(got, b); d != "" {
		t.Fatal(d)
	}
	x := []float64{0.5, -1, 2}
	for k := range 50 {
		y := 10.0 * float64(k%2) // a change: both learn, score and alarm alike
		if err := b.Update(x, y); err != nil {
			t.Fatal(err)
		}
		if err := got.Update(x, y); err != nil {
			t.Fatal(err)
		}
		for i := range b.Models {
			if b.Models[i].LastScore() != got.Models[i].LastScore() {
				t.Fatalf("sample %d model %d: scores differ", k, i)
			}
		}
	}
	if d := sameBank(got, b); d != "" {
		t.Fatal(d)
	}
}

// fuzzSeedV1 reads a []byte seed of the fuzz corpus.
func fuzzSeedV1(t *testing.T, name string) []byte {
	t.Helper()
	data, err := readFuzzSeed("testdata/fuzz/FuzzDecodeBank/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readFuzzSeed reads a corpus file holding one []byte value
// ("go test fuzz v1" then []byte("…") as a Go string literal).
func readFuzzSeed(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, lit, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	if !ok || head != "go test fuzz v1" || !strings.HasPrefix(lit, "[]byte(") || !strings.HasSuffix(lit, ")") {
		return nil, fmt.Errorf("%s: not a one-[]byte fuzz seed", path)
	}
	s, err := strconv.Unquote(lit[len("[]byte(") : len(lit)-1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []byte(s), nil
}
