package codec

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of unknown JSON values that are skipped.
const maxJSONDepth = 512

const (
	keyOther = iota
	keyY
	keyX
	keySeq
	keyTS
	keySamples
)

func classifyKey(k []byte) int {
	switch string(k) {
	case "y":
		return keyY
	case "x":
		return keyX
	case "seq":
		return keySeq
	case "ts":
		return keyTS
	case "samples":
		return keySamples
	}
	return keyOther
}

// jsonFields collects one sample object's fields.
type jsonFields struct {
	y            float64
	seq, ts      int64
	hasY, hasX   bool
	hasSeq       bool
	xStart, xEnd int
	sawSamples   bool
}

// decodeJSON decodes the JSON object starting at b[i] == '{'.
func (d *Decoder) decodeJSON(b []byte, i int) ([]Sample, error) {
	d.reset()
	var f jsonFields
	i, err := d.jsonObject(b, i, &f, true)
	if err != nil {
		return nil, err
	}
	i = skipSpace(b, i)
	if i != len(b) {
		return nil, decodeErr(FormatJSON, ReasonTrailing, "at byte %d: %s after the object", i, snippet(b, i))
	}
	if f.sawSamples {
		if f.hasY || f.hasX {
			return nil, decodeErr(FormatJSON, ReasonBadValue, "object has both \"samples\" and a top-level \"y\" or \"x\"")
		}
		return d.finish(FormatJSON)
	}
	if err := f.check(0, d.NoX); err != nil {
		return nil, err
	}
	d.addJSONSample(&f)
	return d.finish(FormatJSON)
}

func (f *jsonFields) check(pos int, noX bool) error {
	switch {
	case noX && f.hasY:
		return nil
	case !f.hasY && !f.hasX:
		return decodeErr(FormatJSON, ReasonMissingField, "sample object at byte %d has neither \"y\" nor \"x\"", pos)
	case !f.hasY:
		return decodeErr(FormatJSON, ReasonMissingField, "sample object at byte %d has no \"y\"", pos)
	case !f.hasX:
		return decodeErr(FormatJSON, ReasonMissingField, "sample object at byte %d has no \"x\"", pos)
	case f.xEnd == f.xStart:
		return decodeErr(FormatJSON, ReasonMissingField, "sample object at byte %d has an empty \"x\"", pos)
	}
	return nil
}

func (d *Decoder) addJSONSample(f *jsonFields) {
	d.samples = append(d.samples, Sample{Y: f.y, Seq: f.seq, HasSeq: f.hasSeq, TS: f.ts})
	d.xoff = append(d.xoff, f.xStart, f.xEnd)
}

// jsonObject parses a sample object (top: the message's top-level object,
// where "samples" is a batch) starting at b[i] == '{' and returns the index
// after its '}'.
func (d *Decoder) jsonObject(b []byte, i int, f *jsonFields, top bool) (int, error) {
	i++ // '{'
	i = skipSpace(b, i)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		ks, ke, esc, ni, err := jsonKey(b, i)
		if err != nil {
			return ni, err
		}
		key := keyOther
		if !esc {
			key = classifyKey(b[ks:ke])
		} else if ke-ks <= 64 {
			d.keybuf = unescapeJSON(d.keybuf[:0], b[ks:ke])
			key = classifyKey(d.keybuf)
		}
		i = ni
		if i >= len(b) {
			return i, jsonSyntax(b, i, "value")
		}
		switch {
		case key == keyY:
			f.y, i, err = jsonFloat(b, i, "y")
			f.hasY = true
		case key == keyX:
			i, err = d.jsonX(b, i, f)
			f.hasX = true
		case key == keySeq:
			f.seq, f.hasSeq, i, err = jsonInt(b, i, "seq")
		case key == keyTS:
			f.ts, _, i, err = jsonInt(b, i, "ts")
		case key == keySamples && top:
			i, err = d.jsonSamples(b, i)
			f.sawSamples = true
		default:
			i, err = skipJSONValue(b, i, 1)
		}
		if err != nil {
			return i, err
		}
		// jsonNext, by hand: this loop runs per field.
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return i + 1, nil
		default:
			return i, jsonNextErr(b, i, '}', "after", "object value")
		}
	}
}

// jsonX parses the "x" array of numbers into d.flat.
func (d *Decoder) jsonX(b []byte, i int, f *jsonFields) (int, error) {
	if b[i] != '[' {
		return i, jsonWrongType(b, i, "x", "an array of numbers")
	}
	start := len(d.flat)
	var err error
	d.flat, i, err = jsonFloats(d.flat, b, i, d.maxDim(), "x")
	f.xStart, f.xEnd = start, len(d.flat)
	return i, err
}

// jsonFloats appends the array of numbers at b[i] == '[' to dst, failing when
// it holds more than maxDim; field names the array in errors.
func jsonFloats(dst []float64, b []byte, i, maxDim int, field string) ([]float64, int, error) {
	start := len(dst)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return dst, i + 1, nil
	}
	for {
		if len(dst)-start >= maxDim {
			return dst, i, decodeErr(FormatJSON, ReasonTooLarge, "at byte %d: %s has more than %d elements", i, field, maxDim)
		}
		v, e, err := jsonFloat(b, i, field)
		if err != nil {
			return dst, e, err
		}
		dst = append(dst, v)
		// jsonNext, by hand: this loop runs per number.
		i = skipSpace(b, e)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == ']':
			return dst, i + 1, nil
		default:
			return dst, i, jsonNextErr(b, i, ']', "in", field)
		}
	}
}

// jsonSamples parses the "samples" array of sample objects. A repeated
// "samples" key replaces the earlier batch, as a repeated key does in
// encoding/json.
func (d *Decoder) jsonSamples(b []byte, i int) (int, error) {
	if b[i] != '[' {
		return i, jsonWrongType(b, i, "samples", "an array of sample objects")
	}
	d.samples = d.samples[:0]
	d.xoff = d.xoff[:0]
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return i, jsonSyntax(b, i, "sample object")
		}
		if b[i] != '{' {
			return i, jsonWrongType(b, i, "samples element", "an object")
		}
		pos := i
		var f jsonFields
		var err error
		i, err = d.jsonObject(b, i, &f, false)
		if err != nil {
			return i, err
		}
		if err := f.check(pos, d.NoX); err != nil {
			return i, err
		}
		d.addJSONSample(&f)
		var closed bool
		if i, closed, err = jsonNext(b, i, ']', "in", "samples"); err != nil || closed {
			return i, err
		}
	}
}

// jsonKey scans the object key at b[i] and the ':' after it. It returns the
// key's raw contents b[s:e], whether they hold escapes, and the index of the
// value.
func jsonKey(b []byte, i int) (s, e int, esc bool, next int, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false, i, jsonSyntax(b, i, "object key")
	}
	s, e, esc, i, err = scanJSONString(b, i)
	if err != nil {
		return s, e, esc, i, err
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return s, e, esc, i, jsonSyntax(b, i, "':' after object key")
	}
	return s, e, esc, skipSpace(b, i+1), nil
}

// jsonNext reads the ',' or the closer that follows an element ending at
// b[i]. It returns the index of the next element, or the index after the
// closer and closed. where and what name the container in errors ("in x").
func jsonNext(b []byte, i int, closer byte, where, what string) (next int, closed bool, err error) {
	i = skipSpace(b, i)
	if i < len(b) {
		if b[i] == ',' {
			return skipSpace(b, i+1), false, nil
		}
		if b[i] == closer {
			return i + 1, true, nil
		}
	}
	return i, false, jsonNextErr(b, i, closer, where, what)
}

func jsonNextErr(b []byte, i int, closer byte, where, what string) error {
	want := "',' or '" + string(rune(closer)) + "'"
	if i >= len(b) {
		return jsonSyntax(b, i, want)
	}
	return jsonSyntax(b, i, want+" "+where+" "+what)
}

// jsonSyntax reports a syntax error at b[i], or truncation when the value ended.
func jsonSyntax(b []byte, i int, want string) *DecodeError {
	if i >= len(b) {
		return decodeErr(FormatJSON, ReasonTruncated, "value ends at byte %d, want %s", len(b), want)
	}
	return decodeErr(FormatJSON, ReasonSyntax, "at byte %d: want %s, got %s", i, want, snippet(b, i))
}

// jsonWrongType reports a field whose value is valid JSON of the wrong type.
func jsonWrongType(b []byte, i int, field, want string) *DecodeError {
	got := ""
	switch b[i] {
	case '"':
		got = "a string"
	case '{':
		got = "an object"
	case '[':
		got = "an array"
	case 't', 'f':
		got = "a boolean"
	case 'n':
		got = "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'N', 'I':
		got = "a number"
	default:
		return jsonSyntax(b, i, field+" value")
	}
	if _, err := skipJSONValue(b, i, 1); err != nil {
		return err.(*DecodeError)
	}
	return decodeErr(FormatJSON, ReasonBadValue, "at byte %d: %s must be %s, got %s", i, field, want, got)
}

// scanJSONNumber scans a JSON number at b[i] and returns its end and whether
// it is an integer literal (no fraction, no exponent).
func scanJSONNumber(b []byte, i int) (end int, isInt bool, err *DecodeError) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false, jsonSyntax(b, i, "digit")
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false, jsonSyntax(b, i, "digit")
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false, jsonSyntax(b, i, "digit after '.'")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, false, jsonSyntax(b, i, "digit in exponent")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i, isInt, nil
}

// jsonSpecial matches Python's json extensions NaN, Infinity, -Infinity.
func jsonSpecial(b []byte, i int) (float64, int, bool) {
	rest := b[i:]
	switch {
	case hasPrefix(rest, "NaN"):
		return math.NaN(), i + 3, true
	case hasPrefix(rest, "Infinity"):
		return math.Inf(1), i + 8, true
	case hasPrefix(rest, "-Infinity"):
		return math.Inf(-1), i + 9, true
	}
	return 0, i, false
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// jsonFloat parses the number at b[i] (field names it in errors).
func jsonFloat(b []byte, i int, field string) (float64, int, error) {
	if i >= len(b) {
		return 0, i, jsonSyntax(b, i, field+" value")
	}
	if v, e, ok := jsonSpecial(b, i); ok {
		return v, e, nil
	}
	c := b[i]
	if c != '-' && (c < '0' || c > '9') {
		return 0, i, jsonWrongType(b, i, field, "a number")
	}
	e, _, err := scanJSONNumber(b, i)
	if err != nil {
		return 0, e, err
	}
	v, perr := parseFloat(b[i:e])
	if perr {
		return 0, i, decodeErr(FormatJSON, ReasonSyntax, "at byte %d: bad number %q", i, b[i:e])
	}
	return v, e, nil
}

// parseFloat parses a syntactically checked decimal; out-of-range values
// become ±Inf (or 0), as in Python.
func parseFloat(s []byte) (float64, bool) {
	v, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, false
		}
		return 0, true
	}
	return v, false
}

// jsonInt parses an integer field (seq, ts). null means absent. An integral
// float literal (5.0, 1e3) in int64 range is accepted.
func jsonInt(b []byte, i int, field string) (int64, bool, int, error) {
	if i >= len(b) {
		return 0, false, i, jsonSyntax(b, i, field+" value")
	}
	if hasPrefix(b[i:], "null") {
		return 0, false, i + 4, nil
	}
	c := b[i]
	if c != '-' && (c < '0' || c > '9') {
		return 0, false, i, jsonWrongType(b, i, field, "an integer")
	}
	e, isInt, err := scanJSONNumber(b, i)
	if err != nil {
		return 0, false, e, err
	}
	v, ok := toInt64(b[i:e], isInt)
	if !ok {
		return 0, false, i, decodeErr(FormatJSON, ReasonBadValue, "at byte %d: %s %q is not an integer in int64 range", i, field, b[i:e])
	}
	return v, true, e, nil
}

// toInt64 converts a checked number literal to int64: exactly for integer
// literals, else when its float value is integral and in range.
func toInt64(s []byte, isInt bool) (int64, bool) {
	if isInt {
		return parseInt64(s)
	}
	f, bad := parseFloat(s)
	if bad || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// parseInt64 parses [+-]digits exactly, failing on overflow.
func parseInt64(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// scanJSONString scans the string starting at b[i] == '"'. It returns the
// raw contents b[s:e], whether they hold escapes, and the index after the
// closing quote.
func scanJSONString(b []byte, i int) (s, e int, esc bool, next int, err error) {
	i++
	s = i
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return s, i, esc, i + 1, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return s, i, esc, i, jsonSyntax(b, i, "escape")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(b) {
						return s, i + k, esc, i + k, jsonSyntax(b, i+k, "hex digit in \\u escape")
					}
					if !isHex(b[i+k]) {
						return s, i + k, esc, i + k, jsonSyntax(b, i+k, "hex digit in \\u escape")
					}
				}
				i += 5
			default:
				return s, i, esc, i, jsonSyntax(b, i, "valid escape character")
			}
		case c < 0x20:
			return s, i, esc, i, decodeErr(FormatJSON, ReasonSyntax, "at byte %d: control character 0x%02x in string", i, c)
		default:
			i++
		}
	}
	return s, i, esc, i, jsonSyntax(b, i, "closing '\"'")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	}
	return rune(c - 'A' + 10)
}

// unescapeJSON appends the unescaped form of checked raw string contents.
// Surrogate pairs are decoded; lone surrogates become U+FFFD.
func unescapeJSON(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hexVal(raw[i+2])<<12 | hexVal(raw[i+3])<<8 | hexVal(raw[i+4])<<4 | hexVal(raw[i+5])
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				r2 := hexVal(raw[i+2])<<12 | hexVal(raw[i+3])<<8 | hexVal(raw[i+4])<<4 | hexVal(raw[i+5])
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r) // lone surrogates: U+FFFD
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// skipJSONValue checks and skips any JSON value at b[i] (plus NaN/Infinity).
func skipJSONValue(b []byte, i int, depth int) (int, error) {
	if i >= len(b) {
		return i, jsonSyntax(b, i, "value")
	}
	switch c := b[i]; c {
	case '{', '[':
		if depth > maxJSONDepth {
			return i, decodeErr(FormatJSON, ReasonTooDeep, "at byte %d: nesting deeper than %d", i, maxJSONDepth)
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if _, _, _, i, err = jsonKey(b, i); err != nil {
					return i, err
				}
			}
			i, err = skipJSONValue(b, i, depth+1)
			if err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, jsonSyntax(b, i, "',' or '"+string(closer)+"'")
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, jsonSyntax(b, i, "',' or '"+string(closer)+"'")
			}
			i = skipSpace(b, i+1)
		}
	case '"':
		_, _, _, next, err := scanJSONString(b, i)
		return next, err
	case 't':
		return skipLiteral(b, i, "true")
	case 'f':
		return skipLiteral(b, i, "false")
	case 'n':
		return skipLiteral(b, i, "null")
	}
	if _, e, ok := jsonSpecial(b, i); ok {
		return e, nil
	}
	e, _, err := scanJSONNumber(b, i)
	if err != nil {
		return e, err
	}
	return e, nil
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if hasPrefix(b[i:], lit) {
		return i + len(lit), nil
	}
	if len(b)-i < len(lit) && hasPrefix([]byte(lit), string(b[i:])) {
		return len(b), jsonSyntax(b, len(b), lit)
	}
	return i, jsonSyntax(b, i, "value")
}

// AppendJSON appends batch as JSON: one sample as
// {"y":1.9,"x":[0.3,...],"seq":5,"ts":1700000000000} ("seq" only when HasSeq,
// "ts" only when non-zero), any other count as {"samples":[{...},...]}.
// Floats are written as Python's json.dumps writes them (shortest round-trip
// repr; NaN, Infinity, -Infinity for non-finite values, which Decode accepts).
func AppendJSON(dst []byte, batch []Sample) []byte {
	if len(batch) == 1 {
		return appendJSONSample(dst, &batch[0])
	}
	dst = append(dst, `{"samples":[`...)
	for i := range batch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONSample(dst, &batch[i])
	}
	return append(dst, "]}"...)
}

func appendJSONSample(dst []byte, s *Sample) []byte {
	dst = append(dst, `{"y":`...)
	dst = appendJSONFloat(dst, s.Y)
	if len(s.X) > 0 {
		dst = append(dst, `,"x":[`...)
		for i, v := range s.X {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONFloat(dst, v)
		}
		dst = append(dst, ']')
	}
	if s.HasSeq {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendInt(dst, s.Seq, 10)
	}
	if s.TS != 0 {
		dst = append(dst, `,"ts":`...)
		dst = strconv.AppendInt(dst, s.TS, 10)
	}
	return append(dst, '}')
}

func appendJSONFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(v, -1):
		return append(dst, "-Infinity"...)
	}
	return appendPyFloat(dst, v)
}
