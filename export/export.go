// Package export writes every sensor's models of a group to files the
// Python side loads directly: .npy vectors or one .npz (numpy.load), one JSON document,
// or one CSV table. The values are the API's (schema.Sensor), float64 for
// float64: what export writes equals what GET /v1/sensors/{id} answers, to
// the last bit; the JSON document also has each model's P, so that
// predictions and their intervals can be recomputed from it.
package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio"

	"github.com/streamrls/streamrls/codec"
	"github.com/streamrls/streamrls/schema"
	"github.com/streamrls/streamrls/view"
)

// Format is an export file format.
type Format string

// Formats.
const (
	NPY  Format = "npy"  // DIR/<sensor>/<model>.npy: θ as a 1-D float64 array
	NPZ  Format = "npz"  // DIR/theta.npz: per model an S × n float64 array, plus the sensor IDs
	JSON Format = "json" // DIR/sensors.json: an array of GET /v1/sensors/{id} objects, each model with its P
	CSV  Format = "csv"  // DIR/theta.csv: sensor,model,lambda,delta,samples,mse,sigma2,anomalies,drifts,theta_1..theta_n
)

// File names of the NPZ, JSON and CSV formats.
const (
	NPZFile  = "theta.npz"
	JSONFile = "sensors.json"
	CSVFile  = "theta.csv"
)

// ParseFormat parses npy, npz, json or csv.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case NPY, NPZ, JSON, CSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: want npy, npz, json or csv", s)
}

// Sensors is a stream of sensors as the API renders them, in byte order of
// IDs. An error ends it.
type Sensors = iter.Seq2[schema.Sensor, error]

// Slice streams a slice of sensors.
func Slice(sensors []schema.Sensor) Sensors {
	return func(yield func(schema.Sensor, error) bool) {
		for _, s := range sensors {
			if !yield(s, nil) {
				return
			}
		}
	}
}

// Stream renders every sensor of v as the API does, in one ordered pass over
// v's local table (view.All), one sensor at a time; it ends with ctx's error
// once ctx ends.
func Stream(ctx context.Context, v *view.View) Sensors {
	return func(yield func(schema.Sensor, error) bool) {
		for s, err := range v.All("") {
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				yield(schema.Sensor{}, err)
				return
			}
			if !yield(withP(s, v.Group()), nil) {
				return
			}
		}
	}
}

// withP renders s as the API does, plus each model's P.
func withP(s *view.Sensor, group string) schema.Sensor {
	out := codec.DescribeSensorLags(s.ID, group, s.Meta, s.Lags, s.Bank)
	for i := range out.Models {
		out.Models[i].P = append([]float64(nil), s.Bank.Models[i].P...)
	}
	return out
}

// Result counts what Write wrote.
type Result struct {
	Sensors int // sensors read (with or without models)
	Files   int // files written
}

// Write writes sensors to dir in format f, streaming: memory stays that of
// one sensor whatever their number. Everything is written to a temporary
// directory next to dir first and moved into dir only once complete, so a
// failed or interrupted Write leaves dir as it was; see publish.
func Write(dir string, f Format, sensors Sensors) (Result, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return Result{}, err
	}
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Result{}, err
	}
	res, err := write(tmp, f, sensors)
	if err != nil {
		return Result{}, err
	}
	return res, publish(tmp, dir)
}

// write writes sensors to the empty directory dir.
func write(dir string, f Format, sensors Sensors) (Result, error) {
	var res Result
	counted := func(yield func(schema.Sensor, error) bool) {
		for s, err := range sensors {
			if err == nil {
				res.Sensors++
			}
			if !yield(s, err) {
				return
			}
		}
	}
	var err error
	switch f {
	case NPY:
		res.Files, err = writeNPY(dir, counted)
	case NPZ:
		res.Files, err = 1, writeNPZ(dir, counted)
	case JSON:
		res.Files, err = 1, writeFile(filepath.Join(dir, JSONFile), func(w *bufio.Writer) error { return writeJSON(w, counted) })
	case CSV:
		res.Files, err = 1, writeCSV(dir, counted)
	}
	return res, err
}

// publish moves the complete export in tmp to dir: a missing dir is tmp
// renamed, at once; into an existing one every file is renamed, replacing
// one of the same name and leaving others alone. Every file in dir is thus
// either the old one or the complete new one, never part of one.
func publish(tmp, dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	return filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tmp, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		return os.Rename(p, dst)
	})
}

// writeJSON writes sensors as one indented JSON array, the bytes
// json.Encoder with SetIndent("", " ") writes for the whole slice, one
// element at a time.
func writeJSON(w *bufio.Writer, sensors Sensors) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent(" ", " ")
	n := 0
	for s, err := range sensors {
		if err != nil {
			return err
		}
		buf.Reset()
		if err := enc.Encode(s); err != nil {
			return err
		}
		sep := ",\n "
		if n == 0 {
			sep = "[\n "
		}
		w.WriteString(sep)
		w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		n++
	}
	if n == 0 {
		_, err := w.WriteString("[]\n")
		return err
	}
	_, err := w.WriteString("\n]\n")
	return err
}

// writeNPY writes one .npy file per sensor and model. A sensor without
// models (it never had a valid sample) gets no directory.
func writeNPY(dir string, sensors Sensors) (files int, err error) {
	for s, err := range sensors {
		if err != nil {
			return files, err
		}
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
			files++
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

// CSVHeader returns the CSV header for sensors of at most dim coefficients,
// numbered from 1 as the dashboard's θ1…θn.
func CSVHeader(dim int) []string {
	h := []string{"sensor", "model", "lambda", "delta", "samples", "mse", "sigma2", "anomalies", "drifts"}
	for i := 1; i <= dim; i++ {
		h = append(h, "theta_"+strconv.Itoa(i))
	}
	return h
}

// csvHeaderNamed is CSVHeader with the θ cells named by the feature names
// of autoregressive sensors (schema.Sensor.Features), when every sensor
// has the same names, for dim of them.
func csvHeaderNamed(dim int, names []string) []string {
	if len(names) != dim {
		return CSVHeader(dim)
	}
	return append(CSVHeader(0), names...)
}

// csvRow appends the cells of model m of sensor id before its θ to row.
func csvRow(row []string, id string, m schema.Model) []string {
	sigma2 := "" // σ̂² not estimated yet
	if m.Sigma2 != nil {
		sigma2 = ff(*m.Sigma2)
	}
	return append(row, id, m.Name, ff(m.Lambda), ff(m.Delta), strconv.FormatUint(m.Samples, 10), ff(m.MSE),
		sigma2, strconv.FormatUint(m.Anomalies, 10), strconv.FormatUint(m.Drifts, 10))
}

// writeCSV writes DIR/theta.csv: one row per sensor and model. Sensors of
// a smaller dimension than the largest leave their last theta cells empty;
// the largest is known only at the end, so the rows go to a scratch file
// first, each with its number of θ cells, and are copied after the header.
func writeCSV(dir string, sensors Sensors) error {
	scratch, err := os.CreateTemp(dir, ".rows-")
	if err != nil {
		return err
	}
	defer os.Remove(scratch.Name())
	defer scratch.Close()
	rows := bufio.NewWriter(scratch)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	dim := 0
	var names []string // the sensors' common feature names; nil when none or not common
	first := true
	var row []string
	var pre [2 * binary.MaxVarintLen64]byte
	for s, err := range sensors {
		if err != nil {
			return err
		}
		if len(s.Models) > 0 {
			if first {
				names, first = s.Features, false
			} else if !slices.Equal(names, s.Features) {
				names = nil
			}
		}
		for _, m := range s.Models {
			dim = max(dim, len(m.Theta))
			row = csvRow(row[:0], s.Sensor, m)
			for _, v := range m.Theta {
				row = append(row, ff(v))
			}
			buf.Reset()
			if err := cw.Write(row); err != nil {
				return err
			}
			cw.Flush()
			line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			n := binary.PutUvarint(pre[:], uint64(len(m.Theta)))
			n += binary.PutUvarint(pre[n:], uint64(len(line)))
			rows.Write(pre[:n])
			if _, err := rows.Write(line); err != nil {
				return err
			}
		}
	}
	if err := rows.Flush(); err != nil {
		return err
	}
	if _, err := scratch.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, CSVFile), func(w *bufio.Writer) error {
		hw := csv.NewWriter(w)
		if err := hw.Write(csvHeaderNamed(dim, names)); err != nil {
			return err
		}
		if hw.Flush(); hw.Error() != nil {
			return hw.Error()
		}
		return padRows(w, bufio.NewReader(scratch), dim)
	})
}

// padRows copies the scratch rows of writeCSV to w, each padded with empty
// cells to dim θ cells: the bytes csv.Writer writes for the padded row.
func padRows(w *bufio.Writer, r *bufio.Reader, dim int) error {
	var line []byte
	for {
		cells, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		line = slices.Grow(line[:0], int(n))[:n]
		if _, err := io.ReadFull(r, line); err != nil {
			return err
		}
		w.Write(line)
		for range dim - int(cells) {
			w.WriteByte(',')
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
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
