package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// The binary micro-batch format (see the package documentation).
const (
	BinaryMagic     byte = 0xB5 // first byte of a binary sample value; cannot start JSON or text
	BinaryVersion   byte = 1    // the version AppendBinary writes and Decode reads
	BinaryHeaderLen      = 12   // magic, version, flags, dim, count

	BinaryFlagSeq uint16 = 1 << 0 // every record starts with seq (int64)
	BinaryFlagTS  uint16 = 1 << 1 // every record has ts (int64, unix ms) after seq
)

// decodeBinary decodes a binary micro-batch; b[0] == BinaryMagic.
func (d *Decoder) decodeBinary(b []byte) ([]Sample, error) {
	if len(b) < 2 {
		return nil, decodeErr(FormatBinary, ReasonTruncated, "value of %d byte(s) ends before the version byte", len(b))
	}
	if b[1] != BinaryVersion {
		return nil, decodeErr(FormatBinary, ReasonVersion, "version %d unsupported (this build reads version %d)", b[1], BinaryVersion)
	}
	if len(b) < BinaryHeaderLen {
		return nil, decodeErr(FormatBinary, ReasonTruncated, "header needs %d bytes, value has %d", BinaryHeaderLen, len(b))
	}
	flags := binary.LittleEndian.Uint16(b[2:])
	dim := binary.LittleEndian.Uint32(b[4:])
	count := binary.LittleEndian.Uint32(b[8:])
	if flags&^(BinaryFlagSeq|BinaryFlagTS) != 0 {
		return nil, decodeErr(FormatBinary, ReasonBadHeader, "bytes 2-3: unknown flag bits 0x%04x", flags&^(BinaryFlagSeq|BinaryFlagTS))
	}
	if count == 0 {
		return nil, decodeErr(FormatBinary, ReasonEmpty, "bytes 8-11: count is 0")
	}
	if dim == 0 && !d.NoX {
		return nil, decodeErr(FormatBinary, ReasonBadHeader, "bytes 4-7: dim is 0 (a sample needs at least one x)")
	}
	if uint64(dim) > uint64(d.maxDim()) {
		return nil, decodeErr(FormatBinary, ReasonTooLarge, "bytes 4-7: dim %d above the limit %d", dim, d.maxDim())
	}
	hasSeq := flags&BinaryFlagSeq != 0
	hasTS := flags&BinaryFlagTS != 0
	rec := 8 * (uint64(dim) + 1)
	if hasSeq {
		rec += 8
	}
	if hasTS {
		rec += 8
	}
	body := uint64(len(b) - BinaryHeaderLen)
	if uint64(count) > body/rec {
		return nil, decodeErr(FormatBinary, ReasonTruncated,
			"header says %d samples of %d bytes (%d bytes of records), value has %d after the header",
			count, rec, uint64(count)*rec, body)
	}
	if need := uint64(count) * rec; need != body {
		return nil, decodeErr(FormatBinary, ReasonTrailing,
			"header says %d samples of %d bytes, %d extra bytes at byte %d", count, rec, body-need, BinaryHeaderLen+need)
	}

	n, m := int(count), int(dim)
	if cap(d.samples) < n {
		d.samples = make([]Sample, n)
	}
	samples := d.samples[:n]
	if cap(d.flat) < n*m {
		d.flat = make([]float64, n*m)
	}
	flat := d.flat[:n*m]
	d.samples, d.flat = samples, flat

	p := b[BinaryHeaderLen:]
	for s := range samples {
		var seq, ts int64
		if hasSeq {
			seq = int64(binary.LittleEndian.Uint64(p))
			p = p[8:]
		}
		if hasTS {
			ts = int64(binary.LittleEndian.Uint64(p))
			p = p[8:]
		}
		y := math.Float64frombits(binary.LittleEndian.Uint64(p))
		p = p[8:]
		x := flat[s*m : (s+1)*m : (s+1)*m]
		xb := p[:8*m]
		for j := range x {
			x[j] = math.Float64frombits(binary.LittleEndian.Uint64(xb[8*j:]))
		}
		p = p[8*m:]
		samples[s] = Sample{X: x, Y: y, Seq: seq, HasSeq: hasSeq, TS: ts}
	}
	return samples, nil
}

// AppendBinary appends batch as a binary micro-batch (see the package
// documentation). All samples must have the same len(X) (it panics
// otherwise). The seq column is written when any sample HasSeq (0 for those
// without), the ts column when any TS is non-zero. An empty batch, or one
// with empty X, encodes but does not decode.
func AppendBinary(dst []byte, batch []Sample) []byte {
	dim := 0
	var flags uint16
	for i := range batch {
		if i == 0 {
			dim = len(batch[0].X)
		} else if len(batch[i].X) != dim {
			panic(fmt.Sprintf("codec: AppendBinary: sample %d has %d features, sample 0 has %d", i, len(batch[i].X), dim))
		}
		if batch[i].HasSeq {
			flags |= BinaryFlagSeq
		}
		if batch[i].TS != 0 {
			flags |= BinaryFlagTS
		}
	}
	rec := 8 * (dim + 1)
	if flags&BinaryFlagSeq != 0 {
		rec += 8
	}
	if flags&BinaryFlagTS != 0 {
		rec += 8
	}
	size := BinaryHeaderLen + len(batch)*rec
	dst = slices.Grow(dst, size)
	off := len(dst)
	dst = dst[:off+size]
	p := dst[off:]
	p[0], p[1] = BinaryMagic, BinaryVersion
	binary.LittleEndian.PutUint16(p[2:], flags)
	binary.LittleEndian.PutUint32(p[4:], uint32(dim))
	binary.LittleEndian.PutUint32(p[8:], uint32(len(batch)))
	p = p[BinaryHeaderLen:]
	for i := range batch {
		s := &batch[i]
		if flags&BinaryFlagSeq != 0 {
			binary.LittleEndian.PutUint64(p, uint64(s.Seq))
			p = p[8:]
		}
		if flags&BinaryFlagTS != 0 {
			binary.LittleEndian.PutUint64(p, uint64(s.TS))
			p = p[8:]
		}
		binary.LittleEndian.PutUint64(p, math.Float64bits(s.Y))
		p = p[8:]
		for j, v := range s.X {
			binary.LittleEndian.PutUint64(p[8*j:], math.Float64bits(v))
		}
		p = p[8*dim:]
	}
	return dst
}
