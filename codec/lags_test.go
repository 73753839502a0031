package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestEnvelopeLagsRoundTrip(t *testing.T) {
	meta := Meta{Partition: 2, Offset: 41, Samples: 9, Rejected: 1, Updated: 1700000000000, Dim: 6}
	payload := []byte{0xBA, 3, 1, 2}
	for _, l := range []Lags{
		{Order: 4, Values: []float64{1.5, -2, math.Copysign(0, -1), 3e300}},
		{Order: 4, Values: []float64{0.25}},
		{Order: 1, Values: []float64{}},
	} {
		b := AppendEnvelopeLags(nil, meta, l, payload)
		if b[1] != EnvelopeLagsVersion || len(b) != EnvelopeHeaderLen+8+8*len(l.Values)+len(payload) {
			t.Fatalf("lags %v: version %d, %d bytes", l, b[1], len(b))
		}
		m, got, p, err := SplitEnvelopeLags(b)
		if err != nil {
			t.Fatal(err)
		}
		if m != meta || got.Order != l.Order || !bytes.Equal(p, payload) || len(got.Values) != len(l.Values) {
			t.Fatalf("round trip of %v: %+v %v %x", l, m, got, p)
		}
		for i := range l.Values {
			if math.Float64bits(got.Values[i]) != math.Float64bits(l.Values[i]) {
				t.Fatalf("lag %d: %v, want %v", i, got.Values[i], l.Values[i])
			}
		}
		// The envelope without lags still reads it.
		if m2, p2, err := SplitEnvelope(b); err != nil || m2 != meta || !bytes.Equal(p2, payload) {
			t.Fatalf("SplitEnvelope of version 2: %+v %x %v", m2, p2, err)
		}
	}
}

func TestEnvelopeWithoutLagsKeepsVersion1(t *testing.T) {
	meta := Meta{Offset: 3, Samples: 2, Dim: 2}
	v1 := AppendEnvelope(nil, meta, []byte("p"))
	if b := AppendEnvelopeLags(nil, meta, Lags{}, []byte("p")); !bytes.Equal(b, v1) || b[1] != EnvelopeVersion {
		t.Fatalf("no lags: % x, want % x", b, v1)
	}
	m, l, p, err := SplitEnvelopeLags(v1)
	if err != nil || m != meta || l.Order != 0 || l.Values != nil || string(p) != "p" {
		t.Fatalf("version 1: %+v %+v %q %v", m, l, p, err)
	}
}

func TestEnvelopeLagsErrors(t *testing.T) {
	good := AppendEnvelopeLags(nil, Meta{Offset: 7, Dim: 5}, Lags{Order: 4, Values: []float64{1, 2}}, []byte("p"))
	mod := func(f func(b []byte)) []byte { b := slices.Clone(good); f(b); return b }
	cases := []struct {
		in     []byte
		reason string
		detail string
	}{
		{good[:45], ReasonTruncated, "lag header"},
		{good[:60], ReasonTruncated, "2 lags"},
		{mod(func(b []byte) { binary.LittleEndian.PutUint32(b[42:], 0) }), ReasonBadValue, "lag order 0"},
		{mod(func(b []byte) { binary.LittleEndian.PutUint32(b[42:], MaxLagOrder+1) }), ReasonBadValue, "lag order"},
		{mod(func(b []byte) { binary.LittleEndian.PutUint32(b[46:], 5) }), ReasonBadValue, "5 lags held, order 4"},
		{mod(func(b []byte) { binary.LittleEndian.PutUint64(b[58:], math.Float64bits(math.NaN())) }), ReasonBadValue, "lag 1 is not finite"},
	}
	for _, c := range cases {
		_, _, _, err := SplitEnvelopeLags(c.in)
		var se *StateError
		if !errors.As(err, &se) || se.Reason != c.reason || !strings.Contains(se.Detail, c.detail) {
			t.Errorf("SplitEnvelopeLags(% x) = %v; want reason %s, detail containing %q", c.in, err, c.reason, c.detail)
		}
	}
}

func TestDecodeNoX(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want Sample
	}{
		{"json", []byte(`{"y": 1.5}`), Sample{Y: 1.5}},
		{"json seq ts", []byte(`{"y": -2, "seq": 4, "ts": 1700000000000}`), Sample{Y: -2, Seq: 4, HasSeq: true, TS: 1700000000000}},
		{"text", []byte(`[3, 0.5]`), Sample{Y: 0.5, Seq: 3, HasSeq: true}},
		{"binary", AppendBinary(nil, []Sample{{Y: 7, Seq: 1, HasSeq: true}}), Sample{Y: 7, Seq: 1, HasSeq: true}},
		{"json encoded", AppendJSON(nil, []Sample{{Y: 2.5, Seq: 9, HasSeq: true}}), Sample{Y: 2.5, Seq: 9, HasSeq: true}},
	}
	for _, c := range cases {
		d := Decoder{NoX: true}
		got, err := d.Decode(c.in)
		if err != nil || len(got) != 1 || len(got[0].X) != 0 || got[0].Y != c.want.Y || got[0].Seq != c.want.Seq ||
			got[0].HasSeq != c.want.HasSeq || got[0].TS != c.want.TS {
			t.Errorf("%s: Decode(%q) = %+v, %v; want %+v", c.name, c.in, got, err, c.want)
		}
		// Without NoX a sample needs x.
		var strict Decoder
		if _, err := strict.Decode(c.in); err == nil {
			t.Errorf("%s: decoded %q without NoX", c.name, c.in)
		}
	}
	// x, when a sample carries one, is still read.
	d := Decoder{NoX: true}
	if got, err := d.Decode([]byte(`{"y": 1, "x": [2, 3]}`)); err != nil || len(got[0].X) != 2 {
		t.Fatalf("x with NoX: %+v %v", got, err)
	}
	if got := string(AppendJSON(nil, []Sample{{Y: 1.5}})); got != `{"y":1.5}` {
		t.Errorf("AppendJSON of a sample without x: %s", got)
	}
}

func TestFeatureNames(t *testing.T) {
	if got := FeatureNames(3, Lags{}); got != nil {
		t.Errorf("no lags: %v", got)
	}
	want := []string{"x[0]", "y[t-1]", "y[t-2]", "1"}
	if got := FeatureNames(4, Lags{Order: 2, Values: []float64{1}}); !slices.Equal(got, want) {
		t.Errorf("FeatureNames(4, order 2) = %v, want %v", got, want)
	}
}
