package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/lovoo/goka"
)

var _ goka.Codec = Bytes{}
var _ goka.Codec = &Bytes{}

// sameFloat reports bit equality; with anyNaN, any two NaNs are equal (JSON
// and text carry no NaN payload).
func sameFloat(a, b float64, anyNaN bool) bool {
	if anyNaN && math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func sameSamples(a, b []Sample, anyNaN bool) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d samples, want %d", len(a), len(b))
	}
	for i := range a {
		s, t := a[i], b[i]
		if s.HasSeq != t.HasSeq || s.Seq != t.Seq || s.TS != t.TS {
			return fmt.Errorf("sample %d: seq/hasSeq/ts %d/%v/%d, want %d/%v/%d", i, s.Seq, s.HasSeq, s.TS, t.Seq, t.HasSeq, t.TS)
		}
		if !sameFloat(s.Y, t.Y, anyNaN) {
			return fmt.Errorf("sample %d: y %v (%#x), want %v (%#x)", i, s.Y, math.Float64bits(s.Y), t.Y, math.Float64bits(t.Y))
		}
		if len(s.X) != len(t.X) {
			return fmt.Errorf("sample %d: %d x, want %d", i, len(s.X), len(t.X))
		}
		for j := range s.X {
			if !sameFloat(s.X[j], t.X[j], anyNaN) {
				return fmt.Errorf("sample %d: x[%d] %v (%#x), want %v (%#x)", i, j, s.X[j], math.Float64bits(s.X[j]), t.X[j], math.Float64bits(t.X[j]))
			}
		}
	}
	return nil
}

func cloneSamples(s []Sample) []Sample {
	out := make([]Sample, len(s))
	for i := range s {
		out[i] = s[i]
		out[i].X = append([]float64(nil), s[i].X...)
	}
	return out
}

var awkward = []float64{
	0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e-05, 0.0001, 1e16, 1e15, 123456789012345.6,
	math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 1.0 / 3, 9007199254740993,
	1e22, 1e21, 5e-5, -7.0, 1234567890123456, 12345678901234567, 1e100, 1.5e-300,
}

func roundTripCases() map[string][]Sample {
	return map[string][]Sample{
		"one":          {{X: []float64{0.3, -1.2e-05, 7}, Y: 1.9043}},
		"one seq ts":   {{X: []float64{0.3}, Y: -2, Seq: 42, HasSeq: true, TS: 1700000000000}},
		"seq zero":     {{X: []float64{1, 2}, Y: 3, Seq: 0, HasSeq: true}},
		"negative seq": {{X: []float64{1}, Y: 3, Seq: math.MinInt64, HasSeq: true, TS: -1}},
		"max seq":      {{X: []float64{1}, Y: 3, Seq: math.MaxInt64, HasSeq: true, TS: math.MaxInt64}},
		"awkward":      {{X: awkward, Y: math.Nextafter(1, 2), Seq: 7, HasSeq: true}},
		"non-finite":   {{X: []float64{math.NaN(), math.Inf(1), math.Inf(-1)}, Y: math.NaN(), Seq: 1, HasSeq: true}},
		"batch": {
			{X: []float64{1, 2, 3}, Y: 0.5, Seq: 1, HasSeq: true, TS: 10},
			{X: []float64{4, 5, 6}, Y: 1.5, Seq: 2, HasSeq: true, TS: 11},
			{X: []float64{7, 8, 9}, Y: 2.5, Seq: 3, HasSeq: true, TS: 12},
		},
		"batch no meta": {
			{X: []float64{1e-300}, Y: 1e300},
			{X: []float64{-1e-300}, Y: -1e300},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	var d Decoder
	for name, batch := range roundTripCases() {
		for _, f := range Formats {
			if f == FormatText && len(batch) != 1 {
				continue
			}
			t.Run(name+"/"+f.String(), func(t *testing.T) {
				want := cloneSamples(batch)
				if f == FormatText {
					want[0].HasSeq, want[0].TS = true, 0
				}
				enc := Encode(f, []byte("prefix"), batch)
				if !bytes.HasPrefix(enc, []byte("prefix")) {
					t.Fatalf("Encode lost dst: %q", enc)
				}
				enc = enc[len("prefix"):]
				if got := DetectFormat(enc); got != f {
					t.Errorf("DetectFormat = %v, want %v", got, f)
				}
				got, err := d.Decode(enc)
				if err != nil {
					t.Fatalf("Decode(%q): %v", enc, err)
				}
				if err := sameSamples(got, want, f != FormatBinary); err != nil {
					t.Fatalf("Decode(%q): %v", enc, err)
				}
			})
		}
	}
}

func TestBinaryNaNPayload(t *testing.T) {
	nan := math.Float64frombits(0x7ff8dead_beef0001)
	in := []Sample{{X: []float64{nan}, Y: math.Float64frombits(0xfff0000000000001)}}
	got, err := Decode(AppendBinary(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if err := sameSamples(got, in, false); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryMixedSeq(t *testing.T) {
	in := []Sample{{X: []float64{1}, Y: 1, Seq: 5, HasSeq: true}, {X: []float64{2}, Y: 2, TS: 9}}
	got, err := Decode(AppendBinary(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{{X: []float64{1}, Y: 1, Seq: 5, HasSeq: true}, {X: []float64{2}, Y: 2, HasSeq: true, TS: 9}}
	if err := sameSamples(got, want, false); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryLayout(t *testing.T) {
	got := AppendBinary(nil, []Sample{{X: []float64{2}, Y: 1, Seq: 3, HasSeq: true}})
	want := []byte{
		0xB5, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0,
		3, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0xf0, 0x3f,
		0, 0, 0, 0, 0, 0, 0, 0x40,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendBinary = % x\nwant          % x", got, want)
	}
}

func TestDecodeValid(t *testing.T) {
	nan := math.NaN()
	inf := math.Inf(1)
	one := func(y float64, x ...float64) []Sample { return []Sample{{X: x, Y: y}} }
	seq := func(s []Sample, n int64) []Sample { s[0].Seq, s[0].HasSeq = n, true; return s }
	ts := func(s []Sample, n int64) []Sample { s[0].TS = n; return s }
	cases := []struct {
		in   string
		want []Sample
	}{
		// JSON
		{`{"y": 1.9, "x": [0.3, 7]}`, one(1.9, 0.3, 7)},
		{` {"x":[1],"y":2} `, one(2, 1)},
		{"\n\t{\r\n\"y\"\t:\n1 ,\"x\" : [ 1 , 2 ] }\n", one(1, 1, 2)},
		{`{"y":-0,"x":[0e0,1E+2,-1.5e-3,123456789012345678901234567890]}`, one(math.Copysign(0, -1), 0, 100, -1.5e-3, 1.2345678901234568e29)},
		{`{"y":1e400,"x":[-1e400,1e-400]}`, one(inf, math.Inf(-1), 0)},
		{`{"y":NaN,"x":[Infinity,-Infinity]}`, one(nan, inf, math.Inf(-1))},
		{`{"y":1,"x":[1],"seq":5}`, seq(one(1, 1), 5)},
		{`{"y":1,"x":[1],"seq":5.0,"ts":1.7e12}`, ts(seq(one(1, 1), 5), 1700000000000)},
		{`{"y":1,"x":[1],"seq":null,"ts":null}`, one(1, 1)},
		{`{"y":1,"x":[1],"seq":-9223372036854775808}`, seq(one(1, 1), math.MinInt64)},
		{`{"\u0079":1,"\u0078":[2],"s\u0065q":3}`, seq(one(1, 2), 3)},
		{`{"y":1,"x":[9],"x":[2],"y":4}`, one(4, 2)},
		{`{"meta":{"a":[1,{"b":"c\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}],"t":true,"f":false,"n":null},"y":1,"x":[2],"z":NaN}`, one(1, 2)},
		{`{"y":1,"x":[2],"samples2":[]}`, one(1, 2)},
		{`{"samples":[{"y":1,"x":[2,3],"seq":1},{"y":4,"x":[5,6],"ts":7,"samples":0}]}`,
			[]Sample{{X: []float64{2, 3}, Y: 1, Seq: 1, HasSeq: true}, {X: []float64{5, 6}, Y: 4, TS: 7}}},
		{`{"samples":[{"y":1,"x":[2]}],"samples":[{"y":3,"x":[4]}],"seq":1,"id":"abc"}`, one(3, 4)},
		// text
		{`[0, 1.9043, 0.3, -1.2e-05, 7.0]`, seq(one(1.9043, 0.3, -1.2e-05, 7), 0)},
		{`[12,3,4]`, seq(one(3, 4), 12)},
		{" [ 1 ,\t2.5 ,\n3 ] \n", seq(one(2.5, 3), 1)},
		{`[1, nan, inf, -inf, +inf, NaN, Infinity, -INF]`, seq(one(nan, inf, math.Inf(-1), inf, nan, inf, math.Inf(-1)), 1)},
		{`[np.int64(7), np.float64(1.5), np.float64(nan), np.float32(-2.0), numpy.float64( 1e-05 )]`, seq(one(1.5, nan, -2, 1e-05), 7)},
		{`[3.0, 1., .5, +2, 1e400, -0.0]`, seq(one(1, 0.5, 2, inf, math.Copysign(0, -1)), 3)},
		{`[-5, 1, 2]`, seq(one(1, 2), -5)},
		{`[9223372036854775807, 1, 2]`, seq(one(1, 2), math.MaxInt64)},
		{`[1e3, 1, 12345678901234567890123]`, seq(one(1, 1.2345678901234568e22), 1000)},
	}
	var d Decoder
	for _, c := range cases {
		got, err := d.Decode([]byte(c.in))
		if err != nil {
			t.Errorf("Decode(%q): %v", c.in, err)
			continue
		}
		if err := sameSamples(got, c.want, true); err != nil {
			t.Errorf("Decode(%q): %v", c.in, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	hdr := func(version byte, flags uint16, dim, count uint32, body int) string {
		b := []byte{BinaryMagic, version, byte(flags), byte(flags >> 8),
			byte(dim), byte(dim >> 8), byte(dim >> 16), byte(dim >> 24),
			byte(count), byte(count >> 8), byte(count >> 16), byte(count >> 24)}
		return string(append(b, make([]byte, body)...))
	}
	cases := []struct {
		in     string
		format Format
		reason string
	}{
		{"", FormatUnknown, ReasonEmpty},
		{" \n\t", FormatUnknown, ReasonEmpty},
		{"hello", FormatUnknown, ReasonFormat},
		{" \xb5\x01", FormatUnknown, ReasonFormat},
		{`"y"`, FormatUnknown, ReasonFormat},
		// JSON
		{`{`, FormatJSON, ReasonTruncated},
		{`{"y":1,"x":[1,`, FormatJSON, ReasonTruncated},
		{`{"y":1,"x":[1]`, FormatJSON, ReasonTruncated},
		{`{"y":1,"x":[1],"s":"abc`, FormatJSON, ReasonTruncated},
		{`{"y":1,"x":[1],"s":tru`, FormatJSON, ReasonTruncated},
		{`{"y":1,"x":[1]}}`, FormatJSON, ReasonTrailing},
		{`{"y":1,"x":[1]} {"y":1,"x":[1]}`, FormatJSON, ReasonTrailing},
		{`{}`, FormatJSON, ReasonMissingField},
		{`{"x":[1]}`, FormatJSON, ReasonMissingField},
		{`{"y":1}`, FormatJSON, ReasonMissingField},
		{`{"y":1,"x":[]}`, FormatJSON, ReasonMissingField},
		{`{"samples":[{"y":1}]}`, FormatJSON, ReasonMissingField},
		{`{"samples":[]}`, FormatJSON, ReasonEmpty},
		{`{"samples":[{"y":1,"x":[1]},{"y":1,"x":[1,2]}]}`, FormatJSON, ReasonDimMismatch},
		{`{"samples":[{"y":1,"x":[1]}],"y":1}`, FormatJSON, ReasonBadValue},
		{`{"samples":{"y":1,"x":[1]}}`, FormatJSON, ReasonBadValue},
		{`{"samples":[1]}`, FormatJSON, ReasonBadValue},
		{`{"y":"1","x":[1]}`, FormatJSON, ReasonBadValue},
		{`{"y":null,"x":[1]}`, FormatJSON, ReasonBadValue},
		{`{"y":1,"x":1}`, FormatJSON, ReasonBadValue},
		{`{"y":1,"x":[true]}`, FormatJSON, ReasonBadValue},
		{`{"y":1,"x":[1],"seq":1.5}`, FormatJSON, ReasonBadValue},
		{`{"y":1,"x":[1],"seq":9223372036854775808}`, FormatJSON, ReasonBadValue},
		{`{"y":1,"x":[1],"ts":"now"}`, FormatJSON, ReasonBadValue},
		{`{"y":01,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y":1.,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y":.5,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y":+1,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y":1e,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y":nan,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y":1,"x":[1,]}`, FormatJSON, ReasonSyntax},
		{`{"y":1,,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{y:1,"x":[1]}`, FormatJSON, ReasonSyntax},
		{`{"y" 1,"x":[1]}`, FormatJSON, ReasonSyntax},
		{"{\"y\":1,\"x\":[1],\"s\":\"a\x01\"}", FormatJSON, ReasonSyntax},
		{`{"y":1,"x":[1],"s":"\x"}`, FormatJSON, ReasonSyntax},
		{`{"y":1,"x":[1],"s":"\u12G4"}`, FormatJSON, ReasonSyntax},
		{`{"y":1,"x":[1],"s":[1 2]}`, FormatJSON, ReasonSyntax},
		{`{"y":1,"x":[1],"s":nul}`, FormatJSON, ReasonSyntax},
		{`{"y":1,"x":[1],"s":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, FormatJSON, ReasonTooDeep},
		// text
		{`[`, FormatText, ReasonTruncated},
		{`[1, 2, 3`, FormatText, ReasonTruncated},
		{`[1, 2, 3,`, FormatText, ReasonTruncated},
		{`[]`, FormatText, ReasonMissingField},
		{`[1]`, FormatText, ReasonMissingField},
		{`[1, 2.0]`, FormatText, ReasonMissingField},
		{`[1, 2, 3] x`, FormatText, ReasonTrailing},
		{`[1, 2, 3,]`, FormatText, ReasonSyntax},
		{`[1 2 3]`, FormatText, ReasonSyntax},
		{`[1, 2, 3x]`, FormatText, ReasonSyntax},
		{`[1, 2, nanx]`, FormatText, ReasonSyntax},
		{`[1, 2, 'a']`, FormatText, ReasonSyntax},
		{`[1, 2, 1e]`, FormatText, ReasonSyntax},
		{`[1, 2, .]`, FormatText, ReasonSyntax},
		{`[1, 2, np.float64 (1)]`, FormatText, ReasonSyntax},
		{`[1, 2, np.float64(1]`, FormatText, ReasonSyntax},
		{`[1, 2, np.(1)]`, FormatText, ReasonSyntax},
		{`[np.`, FormatText, ReasonTruncated},
		{`[np.x`, FormatText, ReasonTruncated},
		{`[np.x(`, FormatText, ReasonTruncated},
		{`[1, 2, 3 `, FormatText, ReasonTruncated},
		{`[1.5, 2, 3]`, FormatText, ReasonBadValue},
		{`[nan, 2, 3]`, FormatText, ReasonBadValue},
		{`[9223372036854775808, 2, 3]`, FormatText, ReasonBadValue},
		// binary
		{"\xb5", FormatBinary, ReasonTruncated},
		{"\xb5\x02", FormatBinary, ReasonVersion},
		{"\xb5\x01\x00\x00", FormatBinary, ReasonTruncated},
		{hdr(1, 4, 1, 1, 16), FormatBinary, ReasonBadHeader},
		{hdr(1, 0, 0, 1, 8), FormatBinary, ReasonBadHeader},
		{hdr(1, 0, 1, 0, 0), FormatBinary, ReasonEmpty},
		{hdr(1, 0, 1<<16+1, 1, 0), FormatBinary, ReasonTooLarge},
		{hdr(1, 0, 1<<31, 1<<31, 0), FormatBinary, ReasonTooLarge},
		{hdr(1, 0, 1, 1, 15), FormatBinary, ReasonTruncated},
		{hdr(1, 1, 1, 2, 47), FormatBinary, ReasonTruncated},
		{hdr(1, 0, 1, 1, 17), FormatBinary, ReasonTrailing},
		{hdr(1, 3, 2, 0xffffffff, 32), FormatBinary, ReasonTruncated},
	}
	var d Decoder
	for _, c := range cases {
		got, err := d.Decode([]byte(c.in))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("Decode(%q) = %v, %v; want a *DecodeError", c.in, got, err)
			continue
		}
		if de.Format != c.format || de.Reason != c.reason {
			t.Errorf("Decode(%q): %v\n  format %v reason %q, want %v %q", c.in, err, de.Format, de.Reason, c.format, c.reason)
		}
		if de.Detail == "" || !strings.Contains(err.Error(), de.Reason) {
			t.Errorf("Decode(%q): error %q lacks detail or reason", c.in, err)
		}
	}
}

func TestMaxDim(t *testing.T) {
	d := Decoder{MaxDim: 3}
	for _, f := range Formats {
		ok := Encode(f, nil, []Sample{{X: []float64{1, 2, 3}, Y: 1}})
		if _, err := d.Decode(ok); err != nil {
			t.Errorf("%v: dim 3 with MaxDim 3: %v", f, err)
		}
		big := Encode(f, nil, []Sample{{X: []float64{1, 2, 3, 4}, Y: 1}})
		_, err := d.Decode(big)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != ReasonTooLarge {
			t.Errorf("%v: dim 4 with MaxDim 3: %v, want %s", f, err, ReasonTooLarge)
		}
	}
}

// TestDecoderReuse checks that a batch decoded after a bigger one is right
// and that earlier results alias the buffers (documented behaviour).
func TestDecoderReuse(t *testing.T) {
	var d Decoder
	big := []Sample{{X: []float64{1, 2, 3, 4}, Y: 1, HasSeq: true}, {X: []float64{5, 6, 7, 8}, Y: 2, HasSeq: true}}
	small := []Sample{{X: []float64{9}, Y: 3, HasSeq: true}}
	for _, f := range Formats {
		for _, in := range [][]Sample{big, small, big} {
			if f == FormatText && len(in) > 1 {
				continue
			}
			got, err := d.Decode(Encode(f, nil, in))
			if err != nil {
				t.Fatal(err)
			}
			if err := sameSamples(got, in, false); err != nil {
				t.Fatalf("%v: %v", f, err)
			}
		}
	}
	// A JSON batch large enough to grow flat while parsing keeps every X right.
	var many []Sample
	for i := range 200 {
		many = append(many, Sample{X: []float64{float64(i), float64(-i)}, Y: float64(i)})
	}
	got, err := new(Decoder).Decode(AppendJSON(nil, many))
	if err != nil {
		t.Fatal(err)
	}
	if err := sameSamples(got, many, false); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryDecodeAllocs(t *testing.T) {
	batch := make([]Sample, 64)
	for i := range batch {
		x := make([]float64, 10)
		for j := range x {
			x[j] = float64(i*10 + j)
		}
		batch[i] = Sample{X: x, Y: float64(i), Seq: int64(i), HasSeq: true, TS: 1}
	}
	value := AppendBinary(nil, batch)
	var d Decoder
	if _, err := d.Decode(value); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(value); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("binary Decode: %v allocs per call once warm, want 0", allocs)
	}
	// JSON and text need no per-sample allocations either once warm.
	for _, f := range []Format{FormatJSON, FormatText} {
		v := Encode(f, nil, batch[:1])
		if f == FormatJSON {
			v = AppendJSON(nil, batch)
		}
		if _, err := d.Decode(v); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(100, func() { _, _ = d.Decode(v) }); a != 0 {
			t.Errorf("%v Decode: %v allocs per call once warm, want 0", f, a)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, f := range Formats {
		g, err := ParseFormat(strings.ToUpper(" " + f.String()))
		if err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), g, err)
		}
		var h Format
		if err := h.Set(f.String()); err != nil || h != f {
			t.Errorf("Set(%q) = %v, %v", f.String(), h, err)
		}
	}
	_, err := ParseFormat("xml")
	if err == nil || !strings.Contains(err.Error(), `"xml"`) || !strings.Contains(err.Error(), "json, text, binary") {
		t.Errorf("ParseFormat(xml) error %v should name the value and the valid ones", err)
	}
	if s := Format(9).String(); s != "Format(9)" {
		t.Errorf("Format(9).String() = %q", s)
	}
}

func TestEncodePanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	two := []Sample{{X: []float64{1}}, {X: []float64{2}}}
	mustPanic("text batch", func() { Encode(FormatText, nil, two) })
	mustPanic("unknown format", func() { Encode(FormatUnknown, nil, two) })
	mustPanic("mixed dims", func() { AppendBinary(nil, []Sample{{X: []float64{1}}, {X: []float64{1, 2}}}) })
}

func TestAppendFormats(t *testing.T) {
	s := Sample{X: []float64{0.3, -1.2e-05, 7, 1e16, 0.0001}, Y: 1.9043, Seq: 0, HasSeq: true}
	if got, want := string(AppendText(nil, s)), "[0, 1.9043, 0.3, -1.2e-05, 7.0, 1e+16, 0.0001]"; got != want {
		t.Errorf("AppendText = %s, want %s", got, want)
	}
	s.TS = 1700000000000
	if got, want := string(AppendJSON(nil, []Sample{s})), `{"y":1.9043,"x":[0.3,-1.2e-05,7.0,1e+16,0.0001],"seq":0,"ts":1700000000000}`; got != want {
		t.Errorf("AppendJSON = %s, want %s", got, want)
	}
	if got, want := string(AppendJSON(nil, nil)), `{"samples":[]}`; got != want {
		t.Errorf("AppendJSON(nil) = %s, want %s", got, want)
	}
	nf := Sample{X: []float64{math.Inf(1), math.Inf(-1)}, Y: math.NaN()}
	if got, want := string(AppendJSON(nil, []Sample{nf, nf})), `{"samples":[{"y":NaN,"x":[Infinity,-Infinity]},{"y":NaN,"x":[Infinity,-Infinity]}]}`; got != want {
		t.Errorf("AppendJSON = %s, want %s", got, want)
	}
	if got, want := string(AppendText(nil, nf)), `[0, nan, inf, -inf]`; got != want {
		t.Errorf("AppendText = %s, want %s", got, want)
	}
}

func TestBytesCodec(t *testing.T) {
	var c Bytes
	b := []byte("abc")
	if got, err := c.Encode(b); err != nil || &got[0] != &b[0] {
		t.Errorf("Encode([]byte) = %q, %v; want the same slice", got, err)
	}
	if got, err := c.Encode("xyz"); err != nil || string(got) != "xyz" {
		t.Errorf("Encode(string) = %q, %v", got, err)
	}
	if _, err := c.Encode(5); err == nil || !strings.Contains(err.Error(), "int") {
		t.Errorf("Encode(5) error = %v", err)
	}
	if v, err := c.Decode(b); err != nil || &v.([]byte)[0] != &b[0] {
		t.Errorf("Decode = %v, %v", v, err)
	}
}

// pythonScript prints lines "str(list)\tjson.dumps(dict)\thex bits" for
// Python-made samples.
const pythonScript = `
import json, math, random, struct
r = random.Random(20240611)
vals = [0.0, -0.0, 1.0, -1.5, 0.1, 1e-05, 0.0001, 0.00012345, 1e16, 1e15, 9999999999999998.0,
        123456789012345.6, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308,
        float('nan'), float('inf'), float('-inf'), 1/3, 2/3*1e-7, 9007199254740993.0,
        1e22, 1e21, 0.5e-4, 100.0, 1e-4, 9.999999999999999e-05, 1e+16-2, 0.3, -1.2e-05, 7.0]
for _ in range(400):
    vals.append(r.uniform(-1, 1) * 10 ** r.randint(-30, 30))
for _ in range(200):
    vals.append(struct.unpack('<d', struct.pack('<Q', r.getrandbits(64)))[0])
i = 0
while vals:
    n = r.randint(1, 6)
    chunk, vals = vals[:n + 1], vals[n + 1:]
    y, xs = chunk[0], chunk[1:] or [1.0]
    seq = i if i % 7 else -i * 10**15
    print(str([seq, y] + xs) + '\t' + json.dumps({'y': y, 'x': xs, 'seq': seq}, separators=(',', ':')) +
          '\t' + ' '.join(struct.pack('<d', v).hex() for v in [y] + xs))
    i += 1
`

func TestPythonCompat(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if p, err := exec.LookPath("python3"); err == nil {
			py = p
		} else {
			if os.Getenv("CI") == "true" {
				t.Fatal("python3 not found (/usr/bin/python3 or on PATH); CI needs it for the text-format compatibility test")
			}
			t.Skip("python3 not found: skipping the comparison with real Python str(list) output")
		}
	}
	out, err := exec.Command(py, "-c", pythonScript).Output()
	if err != nil {
		t.Fatalf("%s: %v", py, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 50 {
		t.Fatalf("python printed %d lines", len(lines))
	}
	var d Decoder
	for _, line := range lines {
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			t.Fatalf("bad python line %q", line)
		}
		text, js := parts[0], parts[1]
		var want []float64
		for _, h := range strings.Fields(parts[2]) {
			var bits uint64
			for k := 7; k >= 0; k-- { // little-endian hex
				var v uint64
				fmt.Sscanf(h[2*k:2*k+2], "%02x", &v)
				bits = bits<<8 | v
			}
			want = append(want, math.Float64frombits(bits))
		}
		for _, in := range []string{text, js} {
			got, err := d.Decode([]byte(in))
			if err != nil {
				t.Fatalf("Decode(%s): %v", in, err)
			}
			if len(got) != 1 || !got[0].HasSeq {
				t.Fatalf("Decode(%s) = %+v", in, got)
			}
			s := got[0]
			if err := sameSamples(got, []Sample{{X: want[1:], Y: want[0], Seq: s.Seq, HasSeq: true}}, true); err != nil {
				t.Fatalf("Decode(%s): %v", in, err)
			}
			if g := string(AppendText(nil, s)); g != text {
				t.Fatalf("AppendText = %s\n     python str = %s", g, text)
			}
			if g := string(AppendJSON(nil, got)); g != js {
				t.Fatalf("AppendJSON = %s\n  python json = %s", g, js)
			}
		}
	}
}

// refPyFloat is a slow, obviously right repr(float) for finite v.
func refPyFloat(v float64) string {
	s := strconv.FormatFloat(v, 'e', -1, 64)
	exp, _ := strconv.Atoi(s[strings.IndexByte(s, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return s
	}
	s = strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func TestAppendPyFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if got, want := string(appendPyFloat(nil, v)), refPyFloat(v); got != want {
			t.Fatalf("appendPyFloat(%v) = %s, want %s", v, got, want)
		}
	}
	for _, v := range awkward {
		check(v)
		check(-v)
	}
	for range 200000 {
		check(math.Float64frombits(r.Uint64()))
		check((r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(44)-22)))
		check(float64(r.Int64N(1<<62)) / math.Pow(10, float64(r.IntN(25))))
	}
}
