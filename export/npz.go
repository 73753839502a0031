package export

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/streamrls/streamrls/schema"
)

// SensorsKey is the name in theta.npz of the array of sensor IDs (with the
// suffix _n<dim> when sensors of several dimensions are exported).
const SensorsKey = "sensors"

// writeNPZ writes DIR/theta.npz (see docs/formats.md): for each dimension n
// of the sensors, their IDs in byte order and, per model, an S × n float64
// array of θ, row i being sensor i's. numpy.load needs the shape in each
// array's header, and S is known only at the end, so the rows go to one
// scratch file per array and are copied into the zip afterwards: memory is
// one row per array, whatever S.
func writeNPZ(dir string, sensors Sensors) error {
	scratch, err := os.MkdirTemp(dir, ".npz-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	b := npzBuilder{dir: scratch, dims: map[int]*npzDim{}}
	defer b.close()
	for s, err := range sensors {
		if err != nil {
			return err
		}
		if err := b.add(s.Sensor, s.Models); err != nil {
			return fmt.Errorf("sensor %q: %w", s.Sensor, err)
		}
	}
	return writeFile(filepath.Join(dir, NPZFile), b.zip)
}

// npzBuilder collects the arrays of writeNPZ in scratch files.
type npzBuilder struct {
	dir   string
	files int
	dims  map[int]*npzDim
}

// npzDim is the sensors of one dimension: their IDs and one array per model.
type npzDim struct {
	n      int // columns
	rows   int // sensors so far
	ids    *scratchFile
	runes  int // longest ID, in code points
	models map[string]*npzModel
}

// npzModel is the rows of one model's array so far.
type npzModel struct {
	data *scratchFile
	rows int
}

type scratchFile struct {
	f *os.File
	w *bufio.Writer
}

func (b *npzBuilder) create() (*scratchFile, error) {
	f, err := os.Create(filepath.Join(b.dir, strconv.Itoa(b.files)))
	if err != nil {
		return nil, err
	}
	b.files++
	return &scratchFile{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// nanBits fill the row of a sensor that lacks a model other sensors of its
// dimension have (the processor's models changed between their updates).
var nanBits = math.Float64bits(math.NaN())

// writeRow writes n float64 of theta, or NaNs for a nil theta.
func writeRow(w *bufio.Writer, theta []float64, n int) error {
	var b [8]byte
	for i := range n {
		bits := nanBits
		if theta != nil {
			bits = math.Float64bits(theta[i])
		}
		binary.LittleEndian.PutUint64(b[:], bits)
		if _, err := w.Write(b[:]); err != nil {
			return err
		}
	}
	return nil
}

// add appends a sensor; one without models has no row.
func (b *npzBuilder) add(id string, models []schema.Model) error {
	if len(models) == 0 {
		return nil
	}
	n := len(models[0].Theta)
	d := b.dims[n]
	if d == nil {
		ids, err := b.create()
		if err != nil {
			return err
		}
		d = &npzDim{n: n, ids: ids, models: map[string]*npzModel{}}
		b.dims[n] = d
	}
	var pre [binary.MaxVarintLen64]byte
	d.ids.w.Write(pre[:binary.PutUvarint(pre[:], uint64(len(id)))])
	if _, err := d.ids.w.WriteString(id); err != nil {
		return err
	}
	d.runes = max(d.runes, utf8.RuneCountInString(id))
	for _, m := range models {
		if len(m.Theta) != n {
			return fmt.Errorf("model %q has %d coefficients, model %q %d", m.Name, len(m.Theta), models[0].Name, n)
		}
		a := d.models[m.Name]
		if a == nil {
			data, err := b.create()
			if err != nil {
				return err
			}
			a = &npzModel{data: data}
			d.models[m.Name] = a
			for ; a.rows < d.rows; a.rows++ {
				if err := writeRow(data.w, nil, n); err != nil {
					return err
				}
			}
		}
		if a.rows != d.rows {
			return fmt.Errorf("model %q twice", m.Name)
		}
		if err := writeRow(a.data.w, m.Theta, n); err != nil {
			return err
		}
		a.rows++
	}
	d.rows++
	for _, a := range d.models {
		if a.rows < d.rows {
			if err := writeRow(a.data.w, nil, n); err != nil {
				return err
			}
			a.rows++
		}
	}
	return nil
}

func (b *npzBuilder) close() {
	for _, d := range b.dims {
		d.ids.f.Close()
		for _, a := range d.models {
			a.data.f.Close()
		}
	}
}

// zip writes the collected arrays as one .npz: a zip of NAME.npy entries,
// stored uncompressed as numpy.savez stores them.
func (b *npzBuilder) zip(w *bufio.Writer) error {
	zw := zip.NewWriter(w)
	dims := slices.Sorted(maps.Keys(b.dims))
	if len(dims) == 0 {
		// No sensor: an empty ID array, so that the key is always there.
		e, err := zw.CreateHeader(&zip.FileHeader{Name: SensorsKey + ".npy", Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := e.Write(npyHeader("<U1", 0)); err != nil {
			return err
		}
	}
	for _, n := range dims {
		suffix := ""
		if len(dims) > 1 {
			suffix = "_n" + strconv.Itoa(n)
		}
		if err := b.dims[n].zip(zw, suffix); err != nil {
			return err
		}
	}
	return zw.Close()
}

func (d *npzDim) zip(zw *zip.Writer, suffix string) error {
	e, err := zw.CreateHeader(&zip.FileHeader{Name: SensorsKey + suffix + ".npy", Method: zip.Store})
	if err != nil {
		return err
	}
	width := max(d.runes, 1)
	if _, err := e.Write(npyHeader("<U"+strconv.Itoa(width), d.rows)); err != nil {
		return err
	}
	r, err := d.ids.reader()
	if err != nil {
		return err
	}
	if err := copyIDs(e, r, d.rows, width); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(d.models)) {
		key, err := SafeName(name)
		if err != nil {
			return fmt.Errorf("model %q: %w", name, err)
		}
		key += suffix
		if key == SensorsKey+suffix {
			return fmt.Errorf("model %q: its array would replace the sensor IDs %q", name, key)
		}
		e, err := zw.CreateHeader(&zip.FileHeader{Name: key + ".npy", Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := e.Write(npyHeader("<f8", d.rows, d.n)); err != nil {
			return err
		}
		r, err := d.models[name].data.reader()
		if err != nil {
			return err
		}
		if _, err := io.Copy(e, r); err != nil {
			return err
		}
	}
	return nil
}

// reader flushes f and reads it from the start.
func (s *scratchFile) reader() (io.Reader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(s.f, 64<<10), nil
}

// copyIDs writes rows IDs as numpy's '<U width' elements: each code point
// a little-endian uint32, padded with zeros (IDs have no NUL: the processor
// refuses control characters, so numpy's stripping of trailing NULs loses
// nothing).
func copyIDs(w io.Writer, r io.Reader, rows, width int) error {
	br := bufio.NewReader(r)
	out := bufio.NewWriter(w)
	var id []byte
	for range rows {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return err
		}
		id = slices.Grow(id[:0], int(l))[:l]
		if _, err := io.ReadFull(br, id); err != nil {
			return err
		}
		var b [4]byte
		k := 0
		for _, c := range string(id) {
			binary.LittleEndian.PutUint32(b[:], uint32(c))
			out.Write(b[:])
			k++
		}
		for ; k < width; k++ {
			out.Write([]byte{0, 0, 0, 0})
		}
	}
	return out.Flush()
}

// npyHeader is a version 1.0 .npy header of a C-order array of the given
// descr and shape, padded with spaces to a multiple of 64 bytes
// (numpy.org/neps/nep-0001-npy-format.html).
func npyHeader(descr string, shape ...int) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	total := (10 + len(dict) + 1 + 63) / 64 * 64
	h := make([]byte, 0, total)
	h = append(h, "\x93NUMPY\x01\x00"...)
	h = binary.LittleEndian.AppendUint16(h, uint16(total-10))
	h = append(h, dict...)
	for len(h) < total-1 {
		h = append(h, ' ')
	}
	return append(h, '\n')
}
