package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocSizes keeps the two documents a newcomer reads first short: the
// design a ten-minute read, the README one screenful per topic. Details
// belong in the other docs.
func TestDocSizes(t *testing.T) {
	root := moduleRoot(t)
	for _, c := range []struct {
		file  string
		count func(string) int
		most  int
		unit  string
	}{
		{"docs/design.md", func(s string) int { return len(strings.Fields(s)) }, 2300, "words"},
		{"README.md", func(s string) int { return strings.Count(s, "\n") }, 200, "lines"},
	} {
		b, err := os.ReadFile(filepath.Join(root, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if n := c.count(string(b)); n > c.most {
			t.Errorf("%s: %d %s, want at most %d", c.file, n, c.unit, c.most)
		}
	}
}
