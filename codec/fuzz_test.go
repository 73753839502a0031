package codec

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/streamrls/streamrls/rls"
)

// Seeds beyond the checked-in corpus in testdata/fuzz.
func sampleSeeds() [][]byte {
	var seeds [][]byte
	for _, batch := range roundTripCases() {
		for _, f := range Formats {
			if f == FormatText && len(batch) != 1 {
				continue
			}
			seeds = append(seeds, Encode(f, nil, batch))
		}
	}
	return append(seeds,
		[]byte(`{"samples":[{"y":1,"x":[2,3],"seq":1},{"y":4,"x":[5,6],"ts":7}]}`),
		[]byte(`{"meta":{"a":[1,{"b":"c\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}]},"\u0079":1,"x":[2e-3]}`),
		[]byte(`[np.int64(7), np.float64(1.5), np.float64(nan), -inf, .5, 1.]`),
		[]byte(`{"y":1,"x":[1],"seq":5.0e0,"ts":null}`),
		[]byte("\xb5\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00"),
		[]byte(""), []byte(" "), []byte("{"), []byte("["), []byte("\xb5"),
	)
}

var (
	fuzzMu      sync.Mutex
	fuzzDecoder Decoder // shared across inputs: exercises buffer reuse
)

func FuzzDecode(f *testing.F) {
	for _, s := range sampleSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMu.Lock()
		defer fuzzMu.Unlock()
		got, err := fuzzDecoder.Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason == "" || de.Detail == "" {
				t.Fatalf("Decode(%q): error %v is not a complete *DecodeError", data, err)
			}
			if got != nil {
				t.Fatalf("Decode(%q): samples with an error", data)
			}
			return
		}
		format := DetectFormat(data)
		if len(got) == 0 || format == FormatUnknown {
			t.Fatalf("Decode(%q) = %d samples, format %v", data, len(got), format)
		}
		dim := len(got[0].X)
		if dim < 1 || dim > DefaultMaxDim {
			t.Fatalf("Decode(%q): dim %d", data, dim)
		}
		for _, s := range got {
			if len(s.X) != dim {
				t.Fatalf("Decode(%q): mixed dims", data)
			}
		}
		want := cloneSamples(got)
		var fresh Decoder
		again, err := fresh.Decode(data)
		if err != nil {
			t.Fatalf("Decode(%q): fresh decoder fails: %v", data, err)
		}
		if err := sameSamples(again, want, false); err != nil {
			t.Fatalf("Decode(%q): fresh decoder differs from a reused one: %v", data, err)
		}
		enc := Encode(format, nil, want)
		if format == FormatText && len(want) != 1 {
			t.Fatalf("text decoded to %d samples", len(want))
		}
		back, err := fresh.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%q) ok, but its %v re-encoding %q fails: %v", data, format, enc, err)
		}
		if err := sameSamples(back, want, format != FormatBinary); err != nil {
			t.Fatalf("Decode(%q): re-encoded %q decodes differently: %v", data, enc, err)
		}
		// Every format carries what the others decoded (text: one sample, no ts).
		for _, g := range Formats {
			if g == FormatText && len(want) != 1 {
				continue
			}
			w := cloneSamples(want)
			switch g {
			case FormatText:
				w[0].HasSeq, w[0].TS = true, 0
			case FormatBinary: // one seq column for the whole batch
				anySeq := false
				for _, s := range w {
					anySeq = anySeq || s.HasSeq
				}
				for i := range w {
					w[i].HasSeq = anySeq
				}
			}
			back, err := fresh.Decode(Encode(g, nil, w))
			if err != nil {
				t.Fatalf("Decode(%q) as %v: %v", data, g, err)
			}
			if err := sameSamples(back, w, g != FormatBinary); err != nil {
				t.Fatalf("Decode(%q) as %v: %v", data, g, err)
			}
		}
	})
}

func FuzzSplitEnvelope(f *testing.F) {
	f.Add(AppendEnvelope(nil, Meta{Offset: -1}, nil))
	f.Add(AppendEnvelope(nil, Meta{Partition: 3, Offset: 99, Samples: 5, Rejected: 1, Updated: 1700000000000, Dim: 10}, []byte{0xBA, 1}))
	f.Add([]byte{0xE5})
	f.Add([]byte{0xE5, 2})
	f.Add(AppendEnvelopeLags(nil, Meta{Offset: 4, Samples: 2, Dim: 5}, Lags{Order: 4, Values: []float64{1.5, -2, 0, 3}}, []byte{0xBA, 3}))
	f.Add(AppendEnvelopeLags(nil, Meta{Offset: 1, Dim: 3}, Lags{Order: 2, Values: []float64{7}}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, lags, payload, err := SplitEnvelopeLags(data)
		if err != nil {
			var se *StateError
			if !errors.As(err, &se) || se.Reason == "" || se.Detail == "" {
				t.Fatalf("SplitEnvelope(%q): error %v is not a complete *StateError", data, err)
			}
			return
		}
		if m.Dim < 0 || m.Offset < -1 {
			t.Fatalf("SplitEnvelope(%q) accepted %+v", data, m)
		}
		if again := AppendEnvelopeLags(nil, m, lags, payload); !bytes.Equal(again, data) {
			t.Fatalf("SplitEnvelope(%q) → %+v; re-encoded %q", data, m, again)
		}
	})
}

func FuzzDecodeBank(f *testing.F) {
	f.Add(AppendBank(nil, rls.NewBank(rls.DefaultSpecs(), 2)))
	f.Add(AppendBank(nil, rls.NewBank(rls.DefaultSpecs()[:1], 0)))
	f.Add(AppendBank(nil, testBank(f, 3, 20)))
	f.Add(AppendBankV1(nil, testBank(f, 3, 20)))
	f.Add([]byte{0xBA, 1, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBank(data)
		if err != nil {
			var se *StateError
			if !errors.As(err, &se) || se.Reason == "" || se.Detail == "" {
				t.Fatalf("DecodeBank(%q): error %v is not a complete *StateError", data, err)
			}
			return
		}
		if err := b.Check(); err != nil {
			t.Fatalf("DecodeBank(%q) accepted a bank that fails rls Check: %v", data, err)
		}
		enc := AppendBank
		if data[1] == 1 {
			enc = AppendBankV1 // a version-1 state keeps its bytes in the version-1 layout
		}
		if again := enc(nil, b); !bytes.Equal(again, data) {
			t.Fatalf("DecodeBank(%q): re-encoded %q", data, again)
		}
		// Decoding into a used bank gives the same result.
		dst := rls.NewBank(rls.DefaultSpecs(), b.Dim)
		if err := DecodeBankInto(dst, data); err != nil {
			t.Fatalf("DecodeBankInto: %v", err)
		}
		if d := sameBank(dst, b); d != "" {
			t.Fatalf("DecodeBankInto differs: %s", d)
		}
		// A decoded bank can learn.
		if b.Dim > 0 && b.Dim <= 64 {
			x := make([]float64, b.Dim)
			x[0] = 1
			_ = b.Update(x, 1)
		}
	})
}
