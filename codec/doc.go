// Package codec holds streamrls's wire formats: the sample values producers
// send (JSON, the original notebook's Python-list text, a binary micro-batch),
// the state value of the group table (an envelope around an RLS bank), and a
// goka.Codec passthrough; DescribeSensor shows a state value as the records of
// package schema. It has no Kafka code and no reflection.
//
// # Sample values
//
// A sample is (x ∈ Rⁿ, y), n ≥ 1, with an optional producer sequence number
// (seq) and an optional timestamp (ts, unix milliseconds). One message value
// carries one sample or a micro-batch of samples that all have the same n.
// The message key is the sensor ID (a UTF-8 string) and is not part of the
// value. The format of a value is told from its first byte:
//
//	byte 0 == 0xB5                         binary micro-batch
//	first byte that is not ' ', \t, \r, \n:
//	  '{'                                  JSON
//	  '['                                  text (Python list)
//	anything else, or no such byte         error (unknown-format, empty)
//
// A value that decodes to no samples is an error. Non-finite numbers (NaN,
// ±Inf) decode as such; rejecting them is the processor's job.
//
// # JSON
//
// One sample, or a micro-batch:
//
//	{"y": 1.9, "x": [0.3, -1.2e-05, 7.0], "seq": 17, "ts": 1700000000000}
//	{"samples": [{"y": 1.9, "x": [0.3, 7.0]}, {"y": 2.0, "x": [0.1, 6.5]}]}
//
// RFC 8259 JSON, with these rules:
//   - "y" (a number) and "x" (a non-empty array of numbers) are required in
//     every sample object; "seq" and "ts" are optional integers (an integral
//     number such as 5.0 or 1e3 is accepted; null means absent). Numbers are
//     converted to the nearest float64, exactly as strconv.ParseFloat does;
//     a literal beyond the float64 range becomes ±Inf, as in Python.
//   - Python's json extensions NaN, Infinity and -Infinity are accepted as
//     numbers (json.dumps writes them for non-finite floats).
//   - Other fields are ignored (they must still be valid JSON, nested at most
//     512 deep). A repeated field: the last one counts.
//   - A top-level object with "samples" is a micro-batch; it must not also
//     have a top-level "y" or "x". Inside a batch, "samples" is an unknown
//     field.
//   - Nothing but whitespace may follow the object.
//
// The encoder (AppendJSON) writes no spaces, the fields in the order y, x,
// seq (only when present), ts (only when non-zero), and floats as Python's
// repr (see Text); a batch of any size other than one is written with
// "samples".
//
// # JSON records of another shape
//
// A JSONMapping reads one sample out of a JSON record of any shape by dotted
// paths (reading.temp, features.3: a segment is an object key, an all-digit
// segment also an array index): y a number; x one number per path, or one
// path of an array of numbers; ts, optional, an RFC 3339 string or unix
// milliseconds. Compile checks the paths; a JSONMap's MappedDecoder decodes
// the records. A path that is absent or null fails with ReasonMissingField,
// one of another type with ReasonBadValue, both naming the path. Unmapped
// fields are skipped as in JSON above; a repeated key replaces the whole
// earlier value, as in encoding/json.
//
// # Text (the original notebook's format)
//
// Python's str() of the list [i, y, x1, …, xn], i the sequence number:
//
//	[0, 1.9043, 0.3, -1.2e-05, 7.0]
//
// Items are separated by ',' with any whitespace around; at least three
// items (i, y and one x). Each item is a Python int or float literal
// ([+-]digits[.digits][e[+-]digits], also "1." and ".5"), or inf, infinity,
// nan in any case with an optional sign, or a numpy-2 scalar repr
// np.NAME(number) such as np.float64(1.5) or np.int64(3) (also numpy.NAME).
// i must be an integer in int64 range (an integral float such as 3.0 is
// accepted); the decoded sample has HasSeq set. The text format carries one
// sample per message and no timestamp.
//
// The encoder (AppendText) writes exactly what Python 3's str(list) writes for
// [int, float, float, …]: ", " between items; floats as repr(float): the
// shortest digits that round-trip, fixed notation with at least one digit
// after the point ("1.0", "0.0001", "1234567890123456.0") when the decimal
// exponent e of d.ddd×10^e satisfies -4 ≤ e < 16, else d.ddde±XX with at least
// two exponent digits ("1e-05", "1.5e+16", "1e+100"); nan, inf, -inf.
//
// # Binary micro-batch (version 1)
//
// All integers little-endian, floats IEEE-754 binary64 little-endian.
//
//	offset  size  field
//	0       1     magic 0xB5 (cannot start JSON or text)
//	1       1     version, 1
//	2       2     flags (uint16): bit 0 = records carry seq, bit 1 = records
//	              carry ts; other bits must be 0
//	4       4     dim n (uint32), 1 ≤ n ≤ Decoder.MaxDim (default DefaultMaxDim, 1024)
//	8       4     count k (uint32), ≥ 1
//	12      …     k records, each:
//	                seq  int64   (only if flags bit 0)
//	                ts   int64   (only if flags bit 1)
//	                y    float64
//	                x    float64 × n
//
// A record is R = 8·(n + 1 + seq + ts) bytes and the value must be exactly
// 12 + k·R bytes: shorter is "truncated", longer is "trailing-data". The
// decoder allocates nothing once its buffers are big enough; the encoder sets
// the seq bit when any sample has HasSeq and the ts bit when any TS ≠ 0.
//
// # Decode errors
//
// Every decode failure is a *DecodeError{Format, Reason, Detail} (sample
// values) or *StateError{Codec, Reason, Detail} (state values). Reason is one
// of the stable labels ReasonEmpty ("empty"), ReasonFormat ("unknown-format"),
// ReasonSyntax ("syntax"), ReasonTruncated ("truncated"), ReasonTrailing
// ("trailing-data"), ReasonBadHeader ("bad-header"), ReasonVersion
// ("version"), ReasonMissingField ("missing-field"), ReasonBadValue
// ("bad-value"), ReasonDimMismatch ("dim-mismatch"), ReasonTooLarge
// ("too-large"), ReasonBadMagic ("bad-magic"); Detail names the byte position
// and the offending value.
//
// # State envelope (version 1): the group-table value
//
// The processor's bookkeeping for one key, then a payload (the RLS bank).
//
//	offset  size  field
//	0       1     magic 0xE5
//	1       1     version, 1
//	2       4     partition (int32): input partition of the last message handled
//	6       8     offset (int64): its offset, -1 when none; must be ≥ -1
//	14      8     samples (uint64): samples applied
//	22      8     rejected (uint64): samples or messages rejected
//	30      8     updated (int64): unix ms of the last change
//	38      4     dim (int32): the key's dimension, 0 before the first sample; ≥ 0
//	42      …     payload, to the end of the value (may be empty)
//
// Version 2 (EnvelopeLagsVersion) is an autoregressive sensor's: the same
// header with version 2, then the lag order P (uint32, 1..MaxLagOrder), the
// lags held L ≤ P (uint32) and L finite float64 lags, newest first, then the
// payload. AppendEnvelopeLags writes version 1 for a sensor without lags.
//
// # RLS bank state (version 2): the envelope's payload
//
//	offset  size  field
//	0       1     magic 0xBA
//	1       1     version, 2 (1 is still read, see below)
//	2       4     dim n (uint32), ≤ 65536
//	6       4     model count m (uint32), ≥ 1
//	10      …     m models, each:
//	                name length L (uint8), 1 ≤ L ≤ 255
//	                name, L bytes of UTF-8, no ':' and no control characters,
//	                  unique within the bank
//	                lambda     float64, in (0, 1]
//	                delta      float64, finite, > 0
//	                maxTrace   float64, not NaN (≤ 0: the default cap; +Inf: no cap)
//	                samples    uint64
//	                mse        float64, finite, ≥ 0
//	                recentMSE  float64, finite, ≥ 0
//	                sigma2     float64, finite, ≥ 0: σ̂², 0 = unknown
//	                sigma2N    uint64: samples in σ̂²
//	                cusumPos   float64, finite, ≥ 0: the drift detector's S⁺
//	                cusumNeg   float64, finite, ≥ 0: S⁻
//	                cusumScale float64, finite, ≥ 0: Sᵥ
//	                cusumN     uint64: samples since the detector (re)started
//	                anomalies  uint64
//	                drifts     uint64
//	                theta      float64 × n, finite
//	                P          float64 × n(n+1)/2: the upper triangle row by row,
//	                           P[0][0..n-1], P[1][1..n-1], …, P[n-1][n-1];
//	                           finite, diagonal > 0
//
// Each model is 1 + L + 112 + 8n + 4n(n+1) bytes and the value ends exactly
// after the last model. On decode P is rebuilt exactly symmetric
// (P[j][i] = P[i][j] bit for bit), so a decoded bank passes rls.Bank.Check,
// and re-encoding a decoded value gives the same bytes.
//
// Version 1 is version 2 without the eight scoring fields (sigma2 to
// drifts): models of 1 + L + 48 + 8n + 4n(n+1) bytes. It decodes with the
// scoring state fresh: σ̂² unknown (it is set by the next sample, and z is
// NaN for that one), the detector at its start (tests resume after its
// warm-up) and zero anomaly and drift counts. AppendBank always writes
// version 2.
package codec
