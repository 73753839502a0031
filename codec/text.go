package codec

import (
	"bytes"
	"math"
	"strconv"
)

// decodeText decodes the Python list "[i, y, x1, ..., xn]" at b[i] == '['.
func (d *Decoder) decodeText(b []byte, i int) ([]Sample, error) {
	d.reset()
	maxDim := d.maxDim()
	var s Sample
	start := len(d.flat)
	i = skipSpace(b, i+1)
	n := 0
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			if n-2 >= maxDim {
				return nil, decodeErr(FormatText, ReasonTooLarge, "at byte %d: more than %d x values", i, maxDim)
			}
			ns, ne, kind, next, err := scanPyItem(b, i)
			if err != nil {
				return nil, err
			}
			num := b[ns:ne]
			switch n {
			case 0:
				v, ok := pyInt(num, kind)
				if !ok {
					return nil, decodeErr(FormatText, ReasonBadValue, "at byte %d: i %q is not an integer in int64 range", ns, num)
				}
				s.Seq, s.HasSeq = v, true
			default:
				v, bad := pyFloat(num, kind)
				if bad {
					return nil, decodeErr(FormatText, ReasonSyntax, "at byte %d: bad number %q", ns, num)
				}
				if n == 1 {
					s.Y = v
				} else {
					d.flat = append(d.flat, v)
				}
			}
			n++
			i = skipSpace(b, next)
			if i >= len(b) {
				return nil, textSyntax(b, i, "',' or ']'")
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ',' {
				return nil, textSyntax(b, i, "',' or ']'")
			}
			i = skipSpace(b, i+1)
		}
	}
	if i = skipSpace(b, i); i != len(b) {
		return nil, decodeErr(FormatText, ReasonTrailing, "at byte %d: %s after the list", i, snippet(b, i))
	}
	switch n {
	case 0:
		return nil, decodeErr(FormatText, ReasonMissingField, "empty list: want [i, y, x1, ..., xn]")
	case 1:
		return nil, decodeErr(FormatText, ReasonMissingField, "list has only i: want [i, y, x1, ..., xn]")
	case 2:
		if d.NoX {
			break
		}
		return nil, decodeErr(FormatText, ReasonMissingField, "list has i and y but no x: want [i, y, x1, ..., xn]")
	}
	d.samples = append(d.samples, s)
	d.xoff = append(d.xoff, start, len(d.flat))
	return d.finish(FormatText)
}

func textSyntax(b []byte, i int, want string) *DecodeError {
	if i >= len(b) {
		return decodeErr(FormatText, ReasonTruncated, "value ends at byte %d, want %s", len(b), want)
	}
	return decodeErr(FormatText, ReasonSyntax, "at byte %d: want %s, got %s", i, want, snippet(b, i))
}

// Kinds of Python number literal.
const (
	pyIntLit   = iota // [+-]digits
	pyFloatLit        // decimal with '.' or exponent
	pyInf             // [+-]inf or infinity, any case
	pyNaN             // [+-]nan, any case
)

// scanPyItem scans one list item: a Python int or float literal as repr()
// writes it (also inf, nan, with optional sign), or a numpy-2 scalar repr
// like np.float64(1.5) or np.int64(3). It returns the number's span.
func scanPyItem(b []byte, i int) (ns, ne, kind, next int, err error) {
	if hasPrefix(b[i:], "np.") || hasPrefix(b[i:], "numpy.") {
		j := i + 3
		if b[i+1] == 'u' {
			j = i + 6
		}
		k := j
		for k < len(b) && isIdent(b[k]) {
			k++
		}
		if k == j {
			return 0, 0, 0, k, textSyntax(b, k, "numpy type name")
		}
		if k >= len(b) || b[k] != '(' {
			return 0, 0, 0, k, textSyntax(b, k, "'(' after "+string(b[i:k]))
		}
		k = skipSpace(b, k+1)
		ns, ne, kind, err = scanPyNumber(b, k)
		if err != nil {
			return 0, 0, 0, ne, err
		}
		k = skipSpace(b, ne)
		if k >= len(b) || b[k] != ')' {
			return 0, 0, 0, k, textSyntax(b, k, "')'")
		}
		return ns, ne, kind, k + 1, nil
	}
	ns, ne, kind, err = scanPyNumber(b, i)
	return ns, ne, kind, ne, err
}

// eqFoldASCII reports whether w equals the lower-case word lower, ignoring ASCII case.
func eqFoldASCII(w []byte, lower string) bool {
	if len(w) != len(lower) {
		return false
	}
	for i, c := range w {
		if c|0x20 != lower[i] {
			return false
		}
	}
	return true
}

func isIdent(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanPyNumber scans [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
// or [+-]? (inf | infinity | nan) in any case.
func scanPyNumber(b []byte, i int) (ns, ne, kind int, err error) {
	ns = i
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	if i >= len(b) {
		return ns, i, 0, textSyntax(b, i, "number")
	}
	if c := b[i] | 0x20; c == 'i' || c == 'n' {
		j := i
		for j < len(b) && isIdent(b[j]) {
			j++
		}
		switch w := b[i:j]; {
		case eqFoldASCII(w, "inf"), eqFoldASCII(w, "infinity"):
			return ns, j, pyInf, nil
		case eqFoldASCII(w, "nan"):
			return ns, j, pyNaN, nil
		}
		return ns, i, 0, decodeErr(FormatText, ReasonSyntax, "at byte %d: want a number, got %q", ns, b[ns:j])
	}
	digits := 0
	for i < len(b) && isDigit(b[i]) {
		i++
		digits++
	}
	kind = pyIntLit
	if i < len(b) && b[i] == '.' {
		kind = pyFloatLit
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return ns, i, 0, textSyntax(b, i, "number")
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		kind = pyFloatLit
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return ns, i, 0, textSyntax(b, i, "digit in exponent")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && isIdent(b[i]) {
		return ns, i, 0, textSyntax(b, i, "',' or ']' after number")
	}
	return ns, i, kind, nil
}

func pyFloat(s []byte, kind int) (float64, bool) {
	switch kind {
	case pyNaN:
		return math.NaN(), false
	case pyInf:
		if s[0] == '-' {
			return math.Inf(-1), false
		}
		return math.Inf(1), false
	}
	return parseFloat(s)
}

func pyInt(s []byte, kind int) (int64, bool) {
	switch kind {
	case pyIntLit:
		return parseInt64(s)
	case pyFloatLit:
		return toInt64(s, false)
	}
	return 0, false
}

// AppendText appends s as the original notebook's producer sent it: Python's
// str() of the list [seq, y, x1, ..., xn], e.g. "[0, 1.9043, 0.3, -1.2e-05, 7.0]".
// Seq is written even when HasSeq is false (the format has no way to omit it);
// TS is not carried. Floats are written as Python's repr writes them.
func AppendText(dst []byte, s Sample) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, s.Seq, 10)
	dst = append(dst, ", "...)
	dst = appendPyFloat(dst, s.Y)
	for _, v := range s.X {
		dst = append(dst, ", "...)
		dst = appendPyFloat(dst, v)
	}
	return append(dst, ']')
}

// appendPyFloat appends Python's repr(float(v)): the shortest digits that
// round-trip, in fixed notation when the decimal exponent is in [-4, 16)
// (always with a '.', "1.0"), else in exponent notation with at least two
// exponent digits ("1e-05", "1.5e+16"); "nan", "inf", "-inf".
func appendPyFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "nan"...)
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, v, 'e', -1, 64)
	e := n + bytes.LastIndexByte(dst[n:], 'e')
	exp := 0
	for _, c := range dst[e+2:] {
		exp = exp*10 + int(c-'0')
	}
	if dst[e+1] == '-' {
		exp = -exp
	}
	if exp < -4 || exp >= 16 {
		return dst
	}
	// Rewrite d.ddde±XX in fixed notation from the same shortest digits.
	ms := n
	if dst[ms] == '-' {
		ms++
	}
	var buf [24]byte
	digits := buf[:0]
	for _, c := range dst[ms:e] {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	dst = dst[:ms]
	if exp >= 0 {
		intLen := exp + 1
		if len(digits) <= intLen {
			dst = append(dst, digits...)
			for range intLen - len(digits) {
				dst = append(dst, '0')
			}
			return append(dst, ".0"...)
		}
		dst = append(dst, digits[:intLen]...)
		dst = append(dst, '.')
		return append(dst, digits[intLen:]...)
	}
	dst = append(dst, "0."...)
	for range -exp - 1 {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}
