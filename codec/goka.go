package codec

import "fmt"

// Bytes is a goka.Codec passing raw []byte values through unchanged: for the
// sample input topic (decoded by a Decoder in the callback, so a bad value
// becomes a dead letter rather than a codec error) and the dead-letter topic.
// Encode also accepts a string. Decode returns data itself, not a copy.
type Bytes struct{}

// Encode returns value, which must be a []byte (or a string, converted).
func (Bytes) Encode(value interface{}) ([]byte, error) {
	switch v := value.(type) {
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return nil, fmt.Errorf("codec.Bytes: cannot encode %T, want []byte or string", value)
}

// Decode returns data unchanged.
func (Bytes) Decode(data []byte) (interface{}, error) { return data, nil }
