package export

import (
	"errors"
	"strings"
	"testing"
)

func TestSafeName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1", "1"},
		{"sensor-24_b.x", "sensor-24_b.x"},
		{"a/b", "a%2Fb"},
		{"..", "%2E."},
		{".", "%2E"},
		{".hidden", "%2Ehidden"},
		{"x y", "x%20y"},
		{`back\slash`, "back%5Cslash"},
		{"ünï", "%C3%BCn%C3%AF"},
		{"%41", "%2541"},
		{"a:b*c?", "a%3Ab%2Ac%3F"},
		{"nul\x00", "nul%00"},
	} {
		got, err := SafeName(c.in)
		if err != nil || got != c.want {
			t.Errorf("SafeName(%q) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		if strings.ContainsAny(got, `/\`) || got == "." || got == ".." || strings.HasPrefix(got, ".") {
			t.Errorf("SafeName(%q) = %q is not a safe path element", c.in, got)
		}
		back, err := UnsafeName(got)
		if err != nil || back != c.in {
			t.Errorf("UnsafeName(%q) = %q, %v; want %q", got, back, err, c.in)
		}
	}
	if _, err := SafeName(""); err == nil {
		t.Error("SafeName(\"\") did not fail")
	}
	if _, err := SafeName(strings.Repeat("/", 100)); !errors.Is(err, ErrNameTooLong) {
		t.Errorf("300-byte escape: %v, want ErrNameTooLong", err)
	}
	if got, err := SafeName(strings.Repeat("a", MaxNameBytes)); err != nil || len(got) != MaxNameBytes {
		t.Errorf("%d plain bytes: %d, %v", MaxNameBytes, len(got), err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"npy", "JSON", "csv"} {
		if _, err := ParseFormat(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseFormat("parquet"); err == nil || !strings.Contains(err.Error(), "parquet") {
		t.Errorf("parquet: %v", err)
	}
}
