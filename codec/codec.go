package codec

import (
	"fmt"
	"strings"
)

// Sample is one (x, y) observation. Seq and TS are optional producer metadata.
type Sample struct {
	X      []float64
	Y      float64
	Seq    int64 // producer sequence number ("seq" in JSON, i in the text format); HasSeq says if given
	HasSeq bool
	TS     int64 // unix ms ("ts"), 0 when absent
}

// Format is a sample wire format.
type Format int

// The sample formats. The zero Format is FormatJSON, so a config struct
// that leaves its Format unset sends JSON. FormatUnknown is what DetectFormat
// returns, and what a DecodeError carries, when a value's format could not be
// told; Encode panics on it.
const (
	FormatJSON    Format = iota // {"y": 1.9, "x": [...]} or {"samples": [...]}
	FormatText                  // the original notebook's Python list "[i, y, x1, ..., xn]"
	FormatBinary                // binary micro-batch, see BinaryMagic
	FormatUnknown Format = -1
)

// Formats lists the valid formats in the order ParseFormat documents them.
var Formats = []Format{FormatJSON, FormatText, FormatBinary}

// String returns the format's name as ParseFormat accepts it.
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatText:
		return "text"
	case FormatBinary:
		return "binary"
	case FormatUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses "json", "text" or "binary" (case-insensitive, surrounding
// space ignored). The error names the value and lists the valid ones.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "json":
		return FormatJSON, nil
	case "text":
		return FormatText, nil
	case "binary":
		return FormatBinary, nil
	}
	return FormatUnknown, fmt.Errorf("codec: unknown sample format %q (valid: json, text, binary)", s)
}

// Set implements flag.Value (and pflag.Value with Type), so a Format can be a flag.
func (f *Format) Set(s string) error {
	v, err := ParseFormat(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Type implements pflag.Value.
func (f *Format) Type() string { return "format" }

// DetectFormat tells a value's format from its first byte: BinaryMagic at
// byte 0 is binary; otherwise, after ASCII whitespace, '{' is JSON and '[' is
// text. It returns FormatUnknown for anything else, including an empty value.
func DetectFormat(value []byte) Format {
	if len(value) > 0 && value[0] == BinaryMagic {
		return FormatBinary
	}
	i := skipSpace(value, 0)
	if i == len(value) {
		return FormatUnknown
	}
	switch value[i] {
	case '{':
		return FormatJSON
	case '[':
		return FormatText
	}
	return FormatUnknown
}

// Reasons of a DecodeError or StateError: short, stable labels, fit for metrics
// and dead-letter headers.
const (
	ReasonEmpty        = "empty"          // no bytes, only whitespace, or a batch without samples
	ReasonFormat       = "unknown-format" // first byte is none of '{', '[', BinaryMagic (or a state magic)
	ReasonSyntax       = "syntax"         // malformed JSON or Python list
	ReasonTruncated    = "truncated"      // the value ends early
	ReasonTrailing     = "trailing-data"  // bytes after a complete value
	ReasonBadHeader    = "bad-header"     // binary header field out of range (flags, dim 0)
	ReasonVersion      = "version"        // unsupported format version
	ReasonMissingField = "missing-field"  // y or x (or the text format's i, y, x1) missing, or x empty
	ReasonBadValue     = "bad-value"      // a field of the wrong type, an integer out of range, a bad name
	ReasonDimMismatch  = "dim-mismatch"   // samples of one batch (or models of one bank) differ in dimension
	ReasonTooLarge     = "too-large"      // dimension above the limit
	ReasonTooDeep      = "too-deep"       // JSON nesting deeper than the decoder skips
	ReasonBadMagic     = "bad-magic"      // state value does not start with its magic byte
)

// DecodeError says why a value could not be decoded. Reason is a short stable
// label (one of the Reason constants); Detail names the position and value.
type DecodeError struct {
	Format Format
	Reason string
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "codec: decode " + e.Format.String() + ": " + e.Reason
	}
	return "codec: decode " + e.Format.String() + ": " + e.Reason + ": " + e.Detail
}

func decodeErr(f Format, reason, format string, args ...any) *DecodeError {
	return &DecodeError{Format: f, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// DefaultMaxDim is the largest sample dimension a Decoder accepts when its
// MaxDim is 0, and the processor's default --max-dim.
const DefaultMaxDim = 1024

// Decoder decodes sample values of any format, detected by DetectFormat:
// '{' JSON (single sample or {"samples":[...]} micro-batch), '[' the original
// notebook's Python list text "[i, y, x1, ..., xn]", BinaryMagic the binary
// micro-batch.
//
// It reuses its buffers: the returned samples (and their X) are valid until
// the next Decode. Binary decoding allocates nothing once the buffers have
// grown to the largest batch seen. The zero Decoder is ready to use; a Decoder
// must not be used by two goroutines at once.
type Decoder struct {
	// MaxDim is the largest accepted len(x); 0 means DefaultMaxDim. Larger
	// samples fail with ReasonTooLarge before anything is allocated for them.
	MaxDim int
	// NoX accepts samples without x (len(X) = 0 in every format): those of
	// an autoregressive sensor, whose features are lags of y.
	NoX bool

	samples []Sample
	flat    []float64
	xoff    []int // per sample: start of its X in flat (X set once flat stops growing)
	keybuf  []byte
}

func (d *Decoder) maxDim() int { return dimLimit(d.MaxDim) }

// dimLimit is the largest accepted len(x) for a MaxDim field.
func dimLimit(maxDim int) int {
	if maxDim > 0 {
		return maxDim
	}
	return DefaultMaxDim
}

// Decode decodes one message value. The error is a *DecodeError naming the
// format, a Reason and the position. A value that decodes to no samples is an
// error (ReasonEmpty). Every sample of one value has the same len(X) >= 1.
func (d *Decoder) Decode(value []byte) ([]Sample, error) {
	if len(value) > 0 && value[0] == BinaryMagic {
		return d.decodeBinary(value)
	}
	i := skipSpace(value, 0)
	if i == len(value) {
		if len(value) == 0 {
			return nil, &DecodeError{Format: FormatUnknown, Reason: ReasonEmpty, Detail: "value has no bytes"}
		}
		return nil, decodeErr(FormatUnknown, ReasonEmpty, "value of %d bytes is all whitespace", len(value))
	}
	switch value[i] {
	case '{':
		return d.decodeJSON(value, i)
	case '[':
		return d.decodeText(value, i)
	}
	return nil, decodeErr(FormatUnknown, ReasonFormat,
		"first byte %s at byte %d is none of '{' (json), '[' (text), 0x%02x at byte 0 (binary)",
		quoteByte(value[i]), i, BinaryMagic)
}

// Decode decodes value with a fresh Decoder: the result is the caller's own.
func Decode(value []byte) ([]Sample, error) {
	var d Decoder
	return d.Decode(value)
}

// reset prepares the buffers for a new value.
func (d *Decoder) reset() {
	d.samples = d.samples[:0]
	d.flat = d.flat[:0]
	d.xoff = d.xoff[:0]
}

// finish points every sample's X into flat, checks that all have the same
// dimension, and returns the samples.
func (d *Decoder) finish(f Format) ([]Sample, error) {
	n := len(d.samples)
	if n == 0 {
		return nil, decodeErr(f, ReasonEmpty, "batch has no samples")
	}
	for i := range d.samples {
		start, end := d.xoff[2*i], d.xoff[2*i+1]
		d.samples[i].X = d.flat[start:end:end]
	}
	dim := len(d.samples[0].X)
	for i := 1; i < n; i++ {
		if len(d.samples[i].X) != dim {
			return nil, decodeErr(f, ReasonDimMismatch, "sample %d has %d features, sample 0 has %d", i, len(d.samples[i].X), dim)
		}
	}
	return d.samples, nil
}

// Encode appends batch in format f to dst. The text format carries exactly
// one sample per message, and FormatUnknown encodes nothing: both panic, as
// they are programming errors. AppendBinary panics on mixed dimensions.
func Encode(f Format, dst []byte, batch []Sample) []byte {
	switch f {
	case FormatJSON:
		return AppendJSON(dst, batch)
	case FormatText:
		if len(batch) != 1 {
			panic(fmt.Sprintf("codec: the text format carries one sample per message, got %d", len(batch)))
		}
		return AppendText(dst, batch[0])
	case FormatBinary:
		return AppendBinary(dst, batch)
	}
	panic("codec: Encode with " + f.String())
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

// snippet quotes up to 16 bytes of b from i, for error details.
func snippet(b []byte, i int) string {
	if i >= len(b) {
		return "end of value"
	}
	e := i + 16
	if e > len(b) {
		return fmt.Sprintf("%q", b[i:])
	}
	return fmt.Sprintf("%q…", b[i:e])
}
