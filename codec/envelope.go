package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// StateError says why a state value (envelope or bank) could not be decoded.
// Codec is "envelope" or "bank"; Reason is one of the Reason constants;
// Detail names the byte position and value.
type StateError struct {
	Codec  string
	Reason string
	Detail string
}

func (e *StateError) Error() string {
	return "codec: decode " + e.Codec + ": " + e.Reason + ": " + e.Detail
}

func stateErr(codec, reason, format string, args ...any) *StateError {
	return &StateError{Codec: codec, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// The state envelope (see the package documentation).
const (
	EnvelopeMagic     byte = 0xE5
	EnvelopeVersion   byte = 1
	EnvelopeHeaderLen      = 42
	// EnvelopeLagsVersion is the envelope of an autoregressive sensor: the
	// version 1 header, then the lag order P (uint32), the number L ≤ P of
	// lags held (uint32) and L float64 lags, newest first, then the payload.
	// A sensor without lags keeps version 1, so its bytes do not change.
	EnvelopeLagsVersion byte = 2
	// MaxLagOrder is the largest lag order SplitEnvelopeLags accepts.
	MaxLagOrder = 1 << 12
)

// Lags is an autoregressive sensor's recent values of y. The zero Lags is a
// sensor that is not autoregressive.
type Lags struct {
	Order  int       // P, the lags of y among the features; 0: none
	Values []float64 // the last min(P, received) values of y, newest first: y[t-1], y[t-2], …
}

// Meta is the processor's bookkeeping for one key, kept in the state envelope
// in front of the model state.
type Meta struct {
	Partition int32  // input partition of the last message applied (or skipped/rejected) -- idempotency
	Offset    int64  // its offset; -1 when none
	Samples   uint64 // samples applied
	Rejected  uint64 // samples/messages rejected for this key
	Updated   int64  // unix ms of the last change
	Dim       int32  // dimension fixed by the first sample; 0 before
}

// AppendEnvelope appends the envelope of m and payload to dst. It does not
// validate m; SplitEnvelope rejects Dim < 0 and Offset < -1.
func AppendEnvelope(dst []byte, m Meta, payload []byte) []byte {
	return AppendEnvelopeLags(dst, m, Lags{}, payload)
}

// AppendEnvelopeLags is AppendEnvelope with the sensor's lags: version 1
// when l.Order is 0, else EnvelopeLagsVersion. It panics when l holds more
// than l.Order values.
func AppendEnvelopeLags(dst []byte, m Meta, l Lags, payload []byte) []byte {
	if len(l.Values) > l.Order {
		panic(fmt.Sprintf("codec: AppendEnvelopeLags: %d lags of order %d", len(l.Values), l.Order))
	}
	extra := 0
	if l.Order > 0 {
		extra = 8 + 8*len(l.Values)
	}
	dst = slices.Grow(dst, EnvelopeHeaderLen+extra+len(payload))
	off := len(dst)
	dst = dst[:off+EnvelopeHeaderLen]
	p := dst[off:]
	p[0], p[1] = EnvelopeMagic, EnvelopeVersion
	binary.LittleEndian.PutUint32(p[2:], uint32(m.Partition))
	binary.LittleEndian.PutUint64(p[6:], uint64(m.Offset))
	binary.LittleEndian.PutUint64(p[14:], m.Samples)
	binary.LittleEndian.PutUint64(p[22:], m.Rejected)
	binary.LittleEndian.PutUint64(p[30:], uint64(m.Updated))
	binary.LittleEndian.PutUint32(p[38:], uint32(m.Dim))
	if l.Order > 0 {
		p[1] = EnvelopeLagsVersion
		dst = binary.LittleEndian.AppendUint32(dst, uint32(l.Order))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(l.Values)))
		for _, v := range l.Values {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
	}
	return append(dst, payload...)
}

// SplitEnvelope decodes an envelope: the Meta and the payload, which aliases
// b. Errors (*StateError) say what is wrong: bad magic, unsupported version,
// truncation, a field out of range.
func SplitEnvelope(b []byte) (Meta, []byte, error) {
	m, _, payload, err := SplitEnvelopeLags(b)
	return m, payload, err
}

// SplitEnvelopeLags is SplitEnvelope with the lags of an autoregressive
// sensor (version 2; the zero Lags for version 1). The lag values alias
// nothing: they are decoded into a new slice.
func SplitEnvelopeLags(b []byte) (Meta, Lags, []byte, error) {
	m, payload, err := splitEnvelope(b)
	if err != nil || b[1] == EnvelopeVersion {
		return m, Lags{}, payload, err
	}
	const c = "envelope"
	if len(payload) < 8 {
		return Meta{}, Lags{}, nil, stateErr(c, ReasonTruncated, "truncated at byte %d: the lag header has 8 bytes", len(b))
	}
	order, held := binary.LittleEndian.Uint32(payload), binary.LittleEndian.Uint32(payload[4:])
	switch {
	case order == 0 || order > MaxLagOrder:
		return Meta{}, Lags{}, nil, stateErr(c, ReasonBadValue, "bytes 42-45: lag order %d (want 1..%d)", order, MaxLagOrder)
	case held > order:
		return Meta{}, Lags{}, nil, stateErr(c, ReasonBadValue, "bytes 46-49: %d lags held, order %d", held, order)
	case uint64(len(payload)-8) < 8*uint64(held):
		return Meta{}, Lags{}, nil, stateErr(c, ReasonTruncated, "truncated at byte %d: %d lags need %d bytes from byte 50", len(b), held, 8*held)
	}
	l := Lags{Order: int(order), Values: make([]float64, held)}
	for i := range l.Values {
		bits := binary.LittleEndian.Uint64(payload[8+8*i:])
		if !finite(bits) {
			return Meta{}, Lags{}, nil, stateErr(c, ReasonBadValue, "bytes %d-%d: lag %d is not finite", 50+8*i, 57+8*i, i)
		}
		l.Values[i] = math.Float64frombits(bits)
	}
	return m, l, payload[8+8*held:], nil
}

func splitEnvelope(b []byte) (Meta, []byte, error) {
	const c = "envelope"
	if len(b) == 0 {
		return Meta{}, nil, stateErr(c, ReasonEmpty, "value has no bytes")
	}
	if b[0] != EnvelopeMagic {
		return Meta{}, nil, stateErr(c, ReasonBadMagic, "byte 0 is 0x%02x, want 0x%02x", b[0], EnvelopeMagic)
	}
	if len(b) < 2 {
		return Meta{}, nil, stateErr(c, ReasonTruncated, "truncated at byte 1: no version byte")
	}
	if b[1] != EnvelopeVersion && b[1] != EnvelopeLagsVersion {
		return Meta{}, nil, stateErr(c, ReasonVersion, "version %d unsupported (this build reads versions %d and %d)", b[1], EnvelopeVersion, EnvelopeLagsVersion)
	}
	if len(b) < EnvelopeHeaderLen {
		return Meta{}, nil, stateErr(c, ReasonTruncated, "truncated at byte %d: the header has %d bytes", len(b), EnvelopeHeaderLen)
	}
	m := Meta{
		Partition: int32(binary.LittleEndian.Uint32(b[2:])),
		Offset:    int64(binary.LittleEndian.Uint64(b[6:])),
		Samples:   binary.LittleEndian.Uint64(b[14:]),
		Rejected:  binary.LittleEndian.Uint64(b[22:]),
		Updated:   int64(binary.LittleEndian.Uint64(b[30:])),
		Dim:       int32(binary.LittleEndian.Uint32(b[38:])),
	}
	if m.Offset < -1 {
		return Meta{}, nil, stateErr(c, ReasonBadValue, "bytes 6-13: offset %d (want >= -1)", m.Offset)
	}
	if m.Dim < 0 {
		return Meta{}, nil, stateErr(c, ReasonBadValue, "bytes 38-41: dim %d (want >= 0)", m.Dim)
	}
	return m, b[EnvelopeHeaderLen:len(b):len(b)], nil
}
