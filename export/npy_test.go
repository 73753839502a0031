package export_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamrls/streamrls/export"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/schema"
)

// TestNPYLayout checks the .npy files against the format's definition
// (numpy.org/neps/nep-0001-npy-format.html): magic, version, a header
// that ends in a newline, and the values as little-endian float64; an empty
// θ has shape (0,). When Debian's numpy is
// installed it must load every file to the same values.
func TestNPYLayout(t *testing.T) {
	thetas := map[string][]float64{
		"empty": nil,
		"one":   {1.5},
		"four":  {1, -2, 3.25e-300, math.Inf(-1)},
	}
	s := schema.Sensor{Sensor: "s"}
	for name, th := range thetas {
		s.Models = append(s.Models, schema.Model{Name: name, Theta: th})
	}
	dir := t.TempDir()
	res, err := export.Write(dir, export.NPY, export.Slice([]schema.Sensor{s}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != len(thetas) || res.Sensors != 1 {
		t.Fatalf("%+v, want %d files of 1 sensor", res, len(thetas))
	}
	var files []string
	for name, th := range thetas {
		files = append(files, filepath.Join(dir, "s", name+".npy"))
		b, err := os.ReadFile(files[len(files)-1])
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 12 || string(b[:6]) != "\x93NUMPY" {
			t.Fatalf("%s: no .npy magic: %q", name, b)
		}
		var hlen int
		switch b[6] {
		case 1:
			hlen = 10 + int(binary.LittleEndian.Uint16(b[8:]))
		case 2, 3:
			hlen = 12 + int(binary.LittleEndian.Uint32(b[8:]))
		default:
			t.Fatalf("%s: version %d.%d", name, b[6], b[7])
		}
		if hlen > len(b) || b[hlen-1] != '\n' {
			t.Fatalf("%s: header of %d bytes in %d: %q", name, hlen, len(b), b)
		}
		hdr := string(b[:hlen])
		for _, want := range []string{"'descr': '<f8'", "'fortran_order': False", fmt.Sprintf("'shape': (%d,)", len(th))} {
			if !strings.Contains(hdr, want) {
				t.Errorf("%s: header %q lacks %s", name, hdr, want)
			}
		}
		data := b[hlen:]
		if len(data) != 8*len(th) {
			t.Fatalf("%s: %d data bytes, want %d", name, len(data), 8*len(th))
		}
		for i, v := range th {
			if got := binary.LittleEndian.Uint64(data[8*i:]); got != math.Float64bits(v) {
				t.Errorf("%s[%d] = %v, want %v", name, i, math.Float64frombits(got), v)
			}
		}
	}

	const python = "/usr/bin/python3" // Debian's, with python3-numpy
	if _, err := os.Stat(python); err != nil {
		testkit.Missing(t, python+" (numpy)")
	}
	script := `import numpy, sys
for f in sys.argv[1:]:
    a = numpy.load(f)
    print(f, a.dtype, a.shape, [x.hex() for x in a.tolist()])`
	out, err := exec.Command(python, append([]string{"-c", script}, files...)...).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named 'numpy'") {
			testkit.Missing(t, "python3-numpy")
		}
		t.Fatalf("numpy: %v: %s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f, rest, _ := strings.Cut(line, " ")
		th := thetas[strings.TrimSuffix(filepath.Base(f), ".npy")]
		hex := make([]string, len(th))
		for i, v := range th {
			hex[i] = "'" + pyHex(v) + "'"
		}
		want := fmt.Sprintf("float64 (%d,) [%s]", len(th), strings.Join(hex, ", "))
		if rest != want {
			t.Errorf("numpy loads %s as %s, want %s", f, rest, want)
		}
	}
}

// pyHex is Python's float.hex of v, for the values of TestNPYLayout.
func pyHex(v float64) string {
	switch {
	case math.IsInf(v, -1):
		return "-inf"
	case math.IsInf(v, 1):
		return "inf"
	}
	// Go's %x of a float64 is C99's hex float as Python prints it, save
	// for Python's fixed 13 hex digits of mantissa.
	sign := ""
	if math.Signbit(v) {
		sign, v = "-", -v
	}
	frac, exp := math.Frexp(v) // v = frac · 2^exp, frac in [0.5, 1)
	mant := math.Float64bits(frac*2) & (1<<52 - 1)
	return fmt.Sprintf("%s0x1.%013xp%+d", sign, mant, exp-1)
}
