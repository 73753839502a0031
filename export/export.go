// Package export writes every sensor's models of a group to files the
// Python side loads directly: .npy vectors (numpy.load), one JSON document,
// or one CSV table. The values are the API's (apitypes.SensorJSON), float64 for
// float64: what export writes equals what GET /v1/sensors/{id} answers, to
// the last bit.
package export

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio"

	"github.com/streamrls/streamrls/api/apitypes"
	"github.com/streamrls/streamrls/view"
)

// Format is an export file format.
type Format string

// Formats.
const (
	NPY  Format = "npy"  // DIR/<sensor>/<model>.npy: θ as a 1-D float64 array
	JSON Format = "json" // DIR/sensors.json: an array of GET /v1/sensors/{id} objects
	CSV  Format = "csv"  // DIR/theta.csv: sensor,model,lambda,delta,samples,mse,theta_0..theta_{n-1}
)

// File names of the JSON and CSV formats.
const (
	JSONFile = "sensors.json"
	CSVFile  = "theta.csv"
)

// ParseFormat parses npy, json or csv.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case NPY, JSON, CSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: want npy, json or csv", s)
}

// Collect waits until v has caught up with its table, then returns every
// sensor as the API renders it, in byte order of IDs.
func Collect(ctx context.Context, v *view.View) ([]apitypes.SensorJSON, error) {
	if err := v.WaitRecovered(ctx); err != nil {
		return nil, fmt.Errorf("waiting for the view of group %q to catch up: %w", v.Group(), err)
	}
	var out []apitypes.SensorJSON
	err := v.Each(func(s *view.Sensor) error {
		out = append(out, s.JSON(v.Group()))
		return nil
	})
	return out, err
}

// Write writes sensors to dir (created if missing) in format f and returns
// the files written.
func Write(dir string, f Format, sensors []apitypes.SensorJSON) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	switch f {
	case NPY:
		return writeNPY(dir, sensors)
	case JSON:
		p := filepath.Join(dir, JSONFile)
		if sensors == nil {
			sensors = []apitypes.SensorJSON{}
		}
		return []string{p}, writeFile(p, func(w *bufio.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			return enc.Encode(sensors)
		})
	case CSV:
		p := filepath.Join(dir, CSVFile)
		return []string{p}, writeFile(p, func(w *bufio.Writer) error { return writeCSV(w, sensors) })
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// writeNPY writes one .npy file per sensor and model. A sensor without
// models (it never had a valid sample) gets no directory.
func writeNPY(dir string, sensors []apitypes.SensorJSON) ([]string, error) {
	var files []string
	for _, s := range sensors {
		if len(s.Models) == 0 {
			continue
		}
		sd, err := SafeName(s.Sensor)
		if err != nil {
			return files, fmt.Errorf("sensor %q: %w", s.Sensor, err)
		}
		sdir := filepath.Join(dir, sd)
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return files, err
		}
		for _, m := range s.Models {
			mn, err := SafeName(m.Name)
			if err != nil {
				return files, fmt.Errorf("sensor %q model %q: %w", s.Sensor, m.Name, err)
			}
			p := filepath.Join(sdir, mn+".npy")
			if err := writeFile(p, func(w *bufio.Writer) error { return writeTheta(w, m.Theta) }); err != nil {
				return files, fmt.Errorf("sensor %q model %q: %w", s.Sensor, m.Name, err)
			}
			files = append(files, p)
		}
	}
	return files, nil
}

// emptyNPY is a .npy file of an empty 1-D float64 array, shape (0,).
// npyio writes an empty slice with shape () (a scalar), which numpy cannot
// load, so this one is written by hand; the header is padded to 64 bytes as
// npyio pads every other one.
const emptyNPY = "\x93NUMPY\x02\x00\x40\x00\x00\x00" +
	"{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }      \n"

// writeTheta writes θ as a 1-D little-endian float64 .npy array.
func writeTheta(w io.Writer, theta []float64) error {
	if len(theta) == 0 {
		_, err := io.WriteString(w, emptyNPY)
		return err
	}
	return npyio.Write(w, theta)
}

// CSVHeader returns the CSV header for sensors of at most dim coefficients.
func CSVHeader(dim int) []string {
	h := []string{"sensor", "model", "lambda", "delta", "samples", "mse"}
	for i := 0; i < dim; i++ {
		h = append(h, "theta_"+strconv.Itoa(i))
	}
	return h
}

// writeCSV writes one row per sensor and model. Sensors of a smaller
// dimension than the largest leave their last theta cells empty.
func writeCSV(w *bufio.Writer, sensors []apitypes.SensorJSON) error {
	dim := 0
	for _, s := range sensors {
		for _, m := range s.Models {
			dim = max(dim, len(m.Theta))
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader(dim)); err != nil {
		return err
	}
	row := make([]string, 0, 6+dim)
	for _, s := range sensors {
		for _, m := range s.Models {
			row = append(row[:0], s.Sensor, m.Name, ff(m.Lambda), ff(m.Delta), strconv.FormatUint(m.Samples, 10), ff(m.MSE))
			for i := 0; i < dim; i++ {
				if i < len(m.Theta) {
					row = append(row, ff(m.Theta[i]))
				} else {
					row = append(row, "")
				}
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// ff formats a float64 so that parsing it gives the same bits back.
func ff(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func writeFile(path string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// MaxNameBytes bounds an escaped name: most file systems allow 255 bytes
// per path element, and ".npy" takes four.
const MaxNameBytes = 250

// ErrNameTooLong is returned by SafeName for a name that escapes to more
// than MaxNameBytes bytes.
var ErrNameTooLong = errors.New("name too long for a file name once escaped")

// SafeName turns a sensor ID or model name into one safe path element:
// ASCII letters, digits, '-', '_' and '.' stay as they are, except a '.' at
// the start; every other byte (of the UTF-8 encoding), '%' included, becomes
// %XX with upper-case hex. So "/", "\", ".." and "." cannot appear as or in a
// path element, no name starts with '.', and the mapping is reversible:
// Python's urllib.parse.unquote(name) gives the ID back. (On a
// case-insensitive file system, IDs that differ only in case still collide.)
func SafeName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty name")
	}
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.' && i > 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	if b.Len() > MaxNameBytes {
		return "", fmt.Errorf("%w (%d bytes, at most %d)", ErrNameTooLong, b.Len(), MaxNameBytes)
	}
	return b.String(), nil
}

// UnsafeName reverses SafeName.
func UnsafeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("name %q: truncated escape at byte %d", s, i)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("name %q: bad escape at byte %d", s, i)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
