package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var deviceMapping = JSONMapping{Y: "reading.temp", X: []string{"reading.hum", "reading.volt"}, TS: "ts"}

const deviceRecord = `{"device": "a1", "ts": "2026-12-06T10:00:00Z", "reading": {"temp": 21.3, "hum": 40.2, "volt": 3.3}}`

func mustCompile(t testing.TB, m JSONMapping) *JSONMap {
	t.Helper()
	jm, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return jm
}

func TestMappedDecode(t *testing.T) {
	ts := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).UnixMilli()
	cases := []struct {
		name  string
		m     JSONMapping
		value string
		want  Sample
	}{
		{"device", deviceMapping, deviceRecord, Sample{Y: 21.3, X: []float64{40.2, 3.3}, TS: ts}},
		{"unix ms", deviceMapping, `{"ts": 1700000000123, "reading": {"volt": 3, "hum": 4, "temp": 5}}`,
			Sample{Y: 5, X: []float64{4, 3}, TS: 1700000000123}},
		{"fractional RFC 3339", deviceMapping, `{"ts": "2026-12-06T11:00:00.250+01:00", "reading": {"volt": 3, "hum": 4, "temp": 5}}`,
			Sample{Y: 5, X: []float64{4, 3}, TS: ts + 250}},
		{"array x", JSONMapping{Y: "y", X: []string{"features"}}, `{"features": [1, 2.5, -3e2], "y": 7}`,
			Sample{Y: 7, X: []float64{1, 2.5, -300}}},
		{"one number x", JSONMapping{Y: "y", X: []string{"f"}}, `{"f": 2, "y": 7}`, Sample{Y: 7, X: []float64{2}}},
		{"indexes", JSONMapping{Y: "v.1.y", X: []string{"features.3", "features.0"}}, `{"features": [1, 2, 3, 4], "v": [{}, {"y": 9}]}`,
			Sample{Y: 9, X: []float64{4, 1}}},
		{"digit key", JSONMapping{Y: "m.0", X: []string{"m.1"}}, `{"m": {"1": 2, "0": 1}}`, Sample{Y: 1, X: []float64{2}}},
		{"escaped key, last repeat", JSONMapping{Y: "a.b", X: []string{"c"}}, `{"a": {"\u0062": 1, "b": 2}, "c": 3, "a": {"b": 4}}`,
			Sample{Y: 4, X: []float64{3}}},
		{"default shape", JSONMapping{Y: "y", X: []string{"x"}, TS: "ts"}, `{"y": 1.5, "x": [1, NaN], "ts": 5}`,
			Sample{Y: 1.5, X: []float64{1, math.NaN()}, TS: 5}},
		{"root array", JSONMapping{Y: "0", X: []string{"1"}}, `[1, 2, {"skip": [true, null]}]`, Sample{Y: 1, X: []float64{2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mustCompile(t, c.m).NewDecoder(0)
			for range 2 { // buffer reuse
				got, err := d.Decode([]byte(c.value))
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || !sameSample(got[0], c.want) {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
			}
		})
	}
}

func sameSample(a, b Sample) bool {
	if len(a.X) != len(b.X) || a.TS != b.TS || a.HasSeq != b.HasSeq || !mapSameFloat(a.Y, b.Y) {
		return false
	}
	for i := range a.X {
		if !mapSameFloat(a.X[i], b.X[i]) {
			return false
		}
	}
	return true
}

func mapSameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func TestMappedDecodeErrors(t *testing.T) {
	cases := []struct {
		m             JSONMapping
		value, reason string
		detail        string // a part of it
	}{
		{deviceMapping, `{"ts": 1, "reading": {"temp": 1, "hum": 2}}`, ReasonMissingField, `x "reading.volt" is missing`},
		{deviceMapping, `{"ts": 1, "reading": {"hum": 2, "volt": 3}}`, ReasonMissingField, `y "reading.temp" is missing`},
		{deviceMapping, `{"reading": {"temp": 1, "hum": 2, "volt": 3}}`, ReasonMissingField, `ts "ts" is missing`},
		{deviceMapping, `{"ts": 1, "reading": {"temp": null, "hum": 2, "volt": 3}}`, ReasonMissingField, `y "reading.temp"`},
		{deviceMapping, `{"ts": 1, "reading": "broken"}`, ReasonMissingField, `y "reading.temp" is missing`},
		{deviceMapping, `{"ts": 1, "reading": {"temp": "21.3", "hum": 2, "volt": 3}}`, ReasonBadValue, `y "reading.temp" must be a number, got a string`},
		{deviceMapping, `{"ts": 1, "reading": {"temp": 1, "hum": [2], "volt": 3}}`, ReasonBadValue, `x "reading.hum" must be a number`},
		{deviceMapping, `{"ts": "yesterday", "reading": {"temp": 1, "hum": 2, "volt": 3}}`, ReasonBadValue, `ts "ts"`},
		{deviceMapping, `{"ts": 1.5, "reading": {"temp": 1, "hum": 2, "volt": 3}}`, ReasonBadValue, `ts "ts"`},
		{deviceMapping, `{"ts": 1, "reading": {"temp": 1, "hum": 2, "volt": 3}} x`, ReasonTrailing, "after the record"},
		{deviceMapping, `{"ts": 1, "reading": {"temp": 1, "hum": 2, "volt": 3}`, ReasonTruncated, ""},
		{deviceMapping, `{"ts": 1, "other": [1,}`, ReasonSyntax, ""},
		{deviceMapping, "\xb5\x01", ReasonFormat, "JSON object or array"},
		{deviceMapping, "  ", ReasonEmpty, ""},
		{JSONMapping{Y: "y", X: []string{"f"}}, `{"f": [], "y": 1}`, ReasonMissingField, `x "f" is an empty array`},
		{JSONMapping{Y: "y", X: []string{"f.2"}}, `{"f": [1, 2], "y": 1}`, ReasonMissingField, `x "f.2" is missing`},
		{JSONMapping{Y: "y", X: []string{"f"}}, `{"f": [1, "2"], "y": 1}`, ReasonBadValue, `x "f" must be a number`},
		{JSONMapping{Y: "y", X: []string{"f"}}, `{"y": 1, "f": [` + strings.Repeat("1,", 4) + `1]}`, ReasonTooLarge, `x "f" has more than 4`},
		{JSONMapping{Y: "y", X: []string{"f"}}, `{"y": 1, "g": ` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, ReasonTooDeep, ""},
	}
	for _, c := range cases {
		d := mustCompile(t, c.m).NewDecoder(4)
		got, err := d.Decode([]byte(c.value))
		var de *DecodeError
		if !errors.As(err, &de) || got != nil {
			t.Errorf("%.60s: got %v, %v; want a *DecodeError", c.value, got, err)
			continue
		}
		if de.Reason != c.reason || !strings.Contains(de.Detail, c.detail) {
			t.Errorf("%.60s: got %s: %s; want %s containing %q", c.value, de.Reason, de.Detail, c.reason, c.detail)
		}
	}
}

func TestJSONMappingCompile(t *testing.T) {
	cases := []struct {
		m     JSONMapping
		field string
	}{
		{JSONMapping{X: []string{"a"}}, "Y"},
		{JSONMapping{Y: "a"}, "X"},
		{JSONMapping{Y: "a..b", X: []string{"c"}}, "Y"},
		{JSONMapping{Y: "a.", X: []string{"c"}}, "Y"},
		{JSONMapping{Y: "a", X: []string{"c", ""}}, "X"},
		{JSONMapping{Y: "a", X: []string{"a"}}, "X"},
		{JSONMapping{Y: "a.b", X: []string{"a"}}, "X"},
		{JSONMapping{Y: "a", X: []string{"a.b"}}, "X"},
		{JSONMapping{Y: "a", X: []string{"b", "b"}}, "X"},
		{JSONMapping{Y: "a", X: []string{"b"}, TS: ".t"}, "TS"},
		{JSONMapping{Y: "a", X: []string{"b"}, TS: "b.c"}, "TS"},
		{JSONMapping{Y: strings.Repeat("a.", 64) + "a", X: []string{"b"}}, "Y"},
	}
	for _, c := range cases {
		_, err := c.m.Compile()
		var me *MappingError
		if !errors.As(err, &me) || me.Field != c.field || me.Want == "" {
			t.Errorf("%+v: got %v, want a *MappingError of %s", c.m, err, c.field)
		}
	}
	if !(JSONMapping{}).IsZero() || deviceMapping.IsZero() {
		t.Error("IsZero")
	}
	if _, err := deviceMapping.Compile(); err != nil {
		t.Error(err)
	}
}

// The mapped decoder asks nothing of the record but the mapped paths: it
// allocates nothing once its buffers have grown.
func TestMappedDecodeAllocs(t *testing.T) {
	d := mustCompile(t, JSONMapping{Y: "reading.temp", X: []string{"reading.hum", "reading.volt"}}).NewDecoder(0)
	value := []byte(deviceRecord)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(value); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
}

var fuzzMappings = []JSONMapping{
	{Y: "a.b", X: []string{"c", "d.0"}, TS: "t"},
	{Y: "y", X: []string{"x"}, TS: "ts"},
	{Y: "0", X: []string{"1.k"}},
}

var (
	fuzzMapMu    sync.Mutex
	fuzzMapDecs  []*MappedDecoder
	fuzzMapsOnce sync.Once
)

// FuzzMappedDecode checks the mapped decoder against encoding/json on the
// records it accepts as valid JSON, for a few mappings.
func FuzzMappedDecode(f *testing.F) {
	for _, s := range []string{
		deviceRecord,
		`{"a": {"b": 1.5}, "c": 2, "d": [3, 4], "t": "2026-12-06T10:00:00.5Z"}`,
		`{"a": {"b": 1}, "c": -0, "d": [1e400], "t": 17, "a": {"b": null}}`,
		`{"y": 1, "x": [1, 2, 3], "ts": 1e3}`,
		`{"y": 1, "x": 2, "ts": "\u0032026-01-01T00:00:00Z"}`,
		`[1, {"k": 2}]`, `[1, {"k": [2]}]`, `{"\u0061": {"b": 2}, "c": 1, "d": [1], "t": 1}`,
		`{"y": NaN, "x": [Infinity], "ts": null}`, `{`, `[`, ``, `{"a": {"b": [1, 2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzMapMu.Lock()
		defer fuzzMapMu.Unlock()
		fuzzMapsOnce.Do(func() {
			for _, m := range fuzzMappings {
				fuzzMapDecs = append(fuzzMapDecs, mustCompile(t, m).NewDecoder(8))
			}
		})
		for k, d := range fuzzMapDecs {
			got, err := d.Decode(data)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Reason == "" || de.Detail == "" || got != nil {
					t.Fatalf("mapping %d: Decode(%q): %v is not a complete *DecodeError", k, data, err)
				}
			} else if len(got) != 1 || len(got[0].X) == 0 {
				t.Fatalf("mapping %d: Decode(%q) = %+v", k, data, got)
			}
			if !json.Valid(data) {
				continue
			}
			want, ok, deep := mapWithEncodingJSON(fuzzMappings[k], data)
			switch {
			case deep:
			case !ok && err == nil:
				t.Fatalf("mapping %d: Decode(%q) = %+v, encoding/json finds no sample", k, data, got)
			case ok && err != nil:
				var de *DecodeError
				errors.As(err, &de)
				if de.Reason != ReasonTooDeep && de.Reason != ReasonTooLarge && de.Reason != ReasonBadValue {
					t.Fatalf("mapping %d: Decode(%q): %v, encoding/json gives %+v", k, data, err, want)
				}
			case ok && !sameSample(got[0], want):
				if !(math.IsNaN(want.Y) && want.TS == -1) { // ts not comparable
					t.Fatalf("mapping %d: Decode(%q) = %+v, encoding/json gives %+v", k, data, got[0], want)
				}
			}
		}
	})
}

// mapWithEncodingJSON is the sample m maps data to, by encoding/json. ok is
// false when a path is missing or not a number.
// deep is true when encoding/json cannot nest that deep.
func mapWithEncodingJSON(m JSONMapping, data []byte) (s Sample, ok, deep bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return s, false, true
	}
	at := func(path string) any {
		v := root
		for _, seg := range strings.Split(path, ".") {
			switch w := v.(type) {
			case map[string]any:
				v = w[seg]
			case []any:
				i, err := strconv.Atoi(seg)
				if err != nil || i >= len(w) {
					return nil
				}
				v = w[i]
			default:
				return nil
			}
		}
		return v
	}
	num := func(v any) (float64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		f, _ := strconv.ParseFloat(string(n), 64)
		return f, true
	}
	if s.Y, ok = num(at(m.Y)); !ok {
		return s, false, false
	}
	if len(m.X) == 1 {
		switch v := at(m.X[0]).(type) {
		case []any:
			for _, e := range v {
				f, ok := num(e)
				if !ok {
					return s, false, false
				}
				s.X = append(s.X, f)
			}
			if len(s.X) == 0 {
				return s, false, false
			}
		default:
			f, ok := num(v)
			if !ok {
				return s, false, false
			}
			s.X = []float64{f}
		}
	} else {
		for _, p := range m.X {
			f, ok := num(at(p))
			if !ok {
				return s, false, false
			}
			s.X = append(s.X, f)
		}
	}
	if m.TS != "" {
		switch v := at(m.TS).(type) {
		case string:
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return s, false, false
			}
			s.TS = tm.UnixMilli()
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				s.Y, s.TS = math.NaN(), -1 // integral floats: not compared
				return s, true, false
			}
			s.TS = n
		default:
			return s, false, false
		}
	}
	return s, true, false
}

// BenchmarkMappedDecode compares the device-reading record decoded by its
// mapping with the same sample in the default JSON shape.
func BenchmarkMappedDecode(b *testing.B) {
	mapped := []byte(deviceRecord)
	plain := AppendJSON(nil, []Sample{{Y: 21.3, X: []float64{40.2, 3.3}, TS: 1796551200000}})
	b.Run("default", func(b *testing.B) {
		var d Decoder
		benchDecode(b, d.Decode, plain)
	})
	b.Run("mapped", func(b *testing.B) {
		d := mustCompile(b, deviceMapping).NewDecoder(0)
		benchDecode(b, d.Decode, mapped)
	})
}
