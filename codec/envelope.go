package codec

import (
	"encoding/binary"
	"fmt"
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
)

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
	dst = slices.Grow(dst, EnvelopeHeaderLen+len(payload))
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
	return append(dst, payload...)
}

// SplitEnvelope decodes an envelope: the Meta and the payload, which aliases
// b. Errors (*StateError) say what is wrong: bad magic, unsupported version,
// truncation, a field out of range.
func SplitEnvelope(b []byte) (Meta, []byte, error) {
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
	if b[1] != EnvelopeVersion {
		return Meta{}, nil, stateErr(c, ReasonVersion, "version %d unsupported (this build reads version %d)", b[1], EnvelopeVersion)
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
