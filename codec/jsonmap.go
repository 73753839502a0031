package codec

import (
	"fmt"
	"strings"
	"time"
)

// JSONMapping reads samples out of JSON records of another shape: each field
// is a dotted path into the record, such as "reading.temp" or "features.3".
// A segment names an object's key; an all-digit segment also indexes an
// array (from 0). Keys that hold a '.' cannot be named. The zero JSONMapping
// maps nothing (IsZero): the default formats apply.
type JSONMapping struct {
	// Y is the path of y, a number. Required.
	Y string
	// X are the paths of x: one path each of numbers, or a single path
	// naming an array of numbers (or a number). At least one.
	X []string
	// TS is the path of the sample's time: an RFC 3339 string, or a number
	// of unix milliseconds. Optional; "" leaves TS 0.
	TS string
}

// IsZero says whether m maps nothing.
func (m JSONMapping) IsZero() bool { return m.Y == "" && len(m.X) == 0 && m.TS == "" }

// MappingError is a JSONMapping that cannot be compiled: Field ("Y", "X",
// "TS") holds Path, which is wrong as Want says.
type MappingError struct {
	Field string
	Path  string
	Want  string
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("codec: JSONMapping.%s %q: want %s", e.Field, e.Path, e.Want)
}

// maxPathSegments bounds a path's segments, as maxJSONDepth bounds nesting.
const maxPathSegments = 64

// Leaf targets of a path node; a target ≥ targetX is the x path of index
// target-targetX among several.
const (
	targetNone = iota - 1
	targetY
	targetTS
	targetXAll // the only x path: an array of numbers, or a number
	targetX
)

// pathNode is one segment of the compiled paths, a tree from the record's
// root.
type pathNode struct {
	key    string
	index  int // the segment as an array index; -1 when not all digits
	kids   []*pathNode
	below  []int // the targets of the paths through this node
	target int
	label  string // for errors: `y "reading.temp"`
}

// JSONMap is a compiled JSONMapping; it makes MappedDecoders.
type JSONMap struct {
	root  pathNode
	m     JSONMapping
	paths []string // by target: y, ts, x…
}

// Compile checks m's paths: each non-empty, of non-empty segments, none
// naming a path given earlier or a part of one.
func (m JSONMapping) Compile() (*JSONMap, error) {
	if m.Y == "" {
		return nil, &MappingError{Field: "Y", Path: m.Y, Want: "the path of y, e.g. reading.temp"}
	}
	if len(m.X) == 0 {
		return nil, &MappingError{Field: "X", Path: "", Want: "one path or more, e.g. reading.hum,reading.volt"}
	}
	jm := &JSONMap{root: pathNode{index: -1, target: targetNone}, m: m}
	jm.m.X = append([]string(nil), m.X...)
	if err := jm.add("Y", m.Y, targetY, "y"); err != nil {
		return nil, err
	}
	for k, p := range m.X {
		t := targetX + k
		if len(m.X) == 1 {
			t = targetXAll
		}
		if err := jm.add("X", p, t, "x"); err != nil {
			return nil, err
		}
	}
	if m.TS != "" {
		if err := jm.add("TS", m.TS, targetTS, "ts"); err != nil {
			return nil, err
		}
	}
	return jm, nil
}

func (jm *JSONMap) add(field, path string, target int, name string) error {
	segs := strings.Split(path, ".")
	if len(segs) > maxPathSegments {
		return &MappingError{Field: field, Path: path, Want: fmt.Sprintf("at most %d segments", maxPathSegments)}
	}
	for _, s := range segs {
		if s == "" {
			return &MappingError{Field: field, Path: path, Want: "a dotted path of non-empty segments, e.g. reading.temp or features.3"}
		}
	}
	n := &jm.root
	for i, s := range segs {
		n.below = append(n.below, target)
		if n.target != targetNone {
			return &MappingError{Field: field, Path: path, Want: "a path that is not inside another mapped path"}
		}
		var next *pathNode
		for _, k := range n.kids {
			if k.key == s {
				next = k
			}
		}
		if next == nil {
			next = &pathNode{key: s, index: arrayIndex(s), target: targetNone}
			n.kids = append(n.kids, next)
		} else if i == len(segs)-1 {
			return &MappingError{Field: field, Path: path, Want: "a path mapped once, not inside or around another"}
		}
		n = next
	}
	if len(n.kids) > 0 {
		return &MappingError{Field: field, Path: path, Want: "a path that does not hold another mapped path"}
	}
	n.target, n.label = target, fmt.Sprintf("%s %q", name, path)
	return nil
}

// arrayIndex is an all-digit segment's value, -1 for any other segment.
func arrayIndex(s string) int {
	if len(s) > 9 {
		return -1
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// NewDecoder returns a decoder of records by this mapping that accepts at
// most maxDim features (0: DefaultMaxDim).
func (jm *JSONMap) NewDecoder(maxDim int) *MappedDecoder {
	return &MappedDecoder{MaxDim: maxDim, jm: jm}
}

// MappedDecoder decodes JSON records by a JSONMap into one sample each.
// Fields the mapping does not name are skipped (they must be valid JSON).
// A path that is absent, or null, is an error with ReasonMissingField, one
// of another type ReasonBadValue; both name the path. Like a Decoder it
// reuses its buffers, and must not be used by two goroutines at once.
type MappedDecoder struct {
	MaxDim int

	jm      *JSONMap
	samples [1]Sample
	flat    []float64
	y       float64
	ts      int64
	found   []bool // by target: y, ts, x…
	keybuf  []byte
}

func (d *MappedDecoder) maxDim() int { return dimLimit(d.MaxDim) }

// Decode decodes one record. The returned sample is valid until the next
// Decode.
func (d *MappedDecoder) Decode(value []byte) ([]Sample, error) {
	i := skipSpace(value, 0)
	if i == len(value) {
		return nil, decodeErr(FormatJSON, ReasonEmpty, "value of %d bytes has no JSON", len(value))
	}
	if c := value[i]; c != '{' && c != '[' {
		return nil, decodeErr(FormatJSON, ReasonFormat, "first byte %s at byte %d: a mapped record is a JSON object or array",
			quoteByte(c), i)
	}
	nx := len(d.jm.m.X)
	if d.found == nil {
		d.found = make([]bool, targetX+nx)
	}
	clear(d.found)
	d.flat = d.flat[:0]
	if nx > 1 {
		d.flat = append(d.flat, make([]float64, nx)...)
	}
	i, err := d.value(value, i, &d.jm.root, 1)
	if err != nil {
		return nil, err
	}
	if i = skipSpace(value, i); i != len(value) {
		return nil, decodeErr(FormatJSON, ReasonTrailing, "at byte %d: %s after the record", i, snippet(value, i))
	}
	if !d.found[targetY] {
		return nil, d.missing("y", d.jm.m.Y)
	}
	if d.jm.m.TS != "" && !d.found[targetTS] {
		return nil, d.missing("ts", d.jm.m.TS)
	}
	if nx == 1 {
		if !d.found[targetXAll] {
			return nil, d.missing("x", d.jm.m.X[0])
		}
		if len(d.flat) == 0 {
			return nil, decodeErr(FormatJSON, ReasonMissingField, "x %q is an empty array", d.jm.m.X[0])
		}
	} else {
		for k, p := range d.jm.m.X {
			if !d.found[targetX+k] {
				return nil, d.missing("x", p)
			}
		}
	}
	// d.ts is only written through the ts path, so it is 0 without one.
	d.samples[0] = Sample{X: d.flat[:len(d.flat):len(d.flat)], Y: d.y, TS: d.ts}
	return d.samples[:], nil
}

func (d *MappedDecoder) missing(name, path string) error {
	return decodeErr(FormatJSON, ReasonMissingField, "%s %q is missing (or null)", name, path)
}

// value reads the value at b[i], at node n of the paths.
func (d *MappedDecoder) value(b []byte, i int, n *pathNode, depth int) (int, error) {
	if n.target != targetNone {
		return d.leaf(b, i, n)
	}
	// A repeated key replaces its whole value, as in encoding/json.
	for _, t := range n.below {
		d.found[t] = false
	}
	if i >= len(b) {
		return i, jsonSyntax(b, i, "value")
	}
	if depth > maxJSONDepth {
		return i, decodeErr(FormatJSON, ReasonTooDeep, "at byte %d: nesting deeper than %d", i, maxJSONDepth)
	}
	switch b[i] {
	case '{':
		return d.object(b, i, n, depth)
	case '[':
		return d.array(b, i, n, depth)
	}
	return skipJSONValue(b, i, depth)
}

func (d *MappedDecoder) object(b []byte, i int, n *pathNode, depth int) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		key, ni, err := d.key(b, i)
		if err != nil {
			return ni, err
		}
		var closed bool
		if i, closed, err = d.member(b, ni, n.kidByKey(key), depth, '}', "object value"); err != nil || closed {
			return i, err
		}
	}
}

func (d *MappedDecoder) array(b []byte, i int, n *pathNode, depth int) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for idx := 0; ; idx++ {
		var closed bool
		var err error
		if i, closed, err = d.member(b, i, n.kidAt(idx), depth, ']', "array element"); err != nil || closed {
			return i, err
		}
	}
}

// member reads the member or element at b[i] of a container at depth, by kid
// or skipped when the paths do not go there (kid nil), and the ',' or closer
// after it, as jsonNext does.
func (d *MappedDecoder) member(b []byte, i int, kid *pathNode, depth int, closer byte, what string) (int, bool, error) {
	var err error
	if kid != nil {
		i, err = d.value(b, i, kid, depth+1)
	} else {
		i, err = skipJSONValue(b, i, depth+1)
	}
	if err != nil {
		return i, false, err
	}
	return jsonNext(b, i, closer, "after", what)
}

// key reads the object key at b[i], unescaped, and the ':' after it; the key
// is valid until the next key.
func (d *MappedDecoder) key(b []byte, i int) ([]byte, int, error) {
	ks, ke, esc, next, err := jsonKey(b, i)
	if err != nil {
		return nil, next, err
	}
	return d.text(b, ks, ke, esc), next, nil
}

// text is the string b[s:e] of a JSON text, unescaped (into d.keybuf) when
// esc.
func (d *MappedDecoder) text(b []byte, s, e int, esc bool) []byte {
	if !esc {
		return b[s:e]
	}
	d.keybuf = unescapeJSON(d.keybuf[:0], b[s:e])
	return d.keybuf
}

// kidByKey is the child of n for an object's key, nil if none.
func (n *pathNode) kidByKey(key []byte) *pathNode {
	for _, k := range n.kids {
		if k.key == string(key) {
			return k
		}
	}
	return nil
}

// kidAt is the child of n for an array's index idx, nil if none.
func (n *pathNode) kidAt(idx int) *pathNode {
	for _, k := range n.kids {
		if k.index == idx {
			return k
		}
	}
	return nil
}

// leaf reads a mapped value. A repeated key: the last one counts.
func (d *MappedDecoder) leaf(b []byte, i int, n *pathNode) (int, error) {
	if i >= len(b) {
		return i, jsonSyntax(b, i, n.label+" value")
	}
	if hasPrefix(b[i:], "null") {
		d.found[n.target] = false
		return i + 4, nil
	}
	var err error
	switch t := n.target; {
	case t == targetY:
		d.y, i, err = jsonFloat(b, i, n.label)
	case t == targetTS:
		i, err = d.timestamp(b, i, n)
	case t == targetXAll:
		d.flat = d.flat[:0]
		if b[i] == '[' {
			d.flat, i, err = jsonFloats(d.flat, b, i, d.maxDim(), n.label)
		} else {
			var v float64
			v, i, err = jsonFloat(b, i, n.label)
			d.flat = append(d.flat, v)
		}
	default:
		d.flat[t-targetX], i, err = jsonFloat(b, i, n.label)
	}
	if err != nil {
		return i, err
	}
	d.found[n.target] = true
	return i, nil
}

// timestamp reads the ts path: an RFC 3339 string or unix milliseconds.
func (d *MappedDecoder) timestamp(b []byte, i int, n *pathNode) (int, error) {
	if b[i] != '"' {
		v, ok, e, err := jsonInt(b, i, n.label)
		if err == nil && ok {
			d.ts = v
		}
		return e, err
	}
	s, e, esc, next, err := scanJSONString(b, i)
	if err != nil {
		return next, err
	}
	t, perr := time.Parse(time.RFC3339Nano, string(d.text(b, s, e, esc)))
	if perr != nil {
		return i, decodeErr(FormatJSON, ReasonBadValue, "at byte %d: %s %s is not an RFC 3339 time", i, n.label, snippet(b, i))
	}
	d.ts = t.UnixMilli()
	return next, nil
}
