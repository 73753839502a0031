package client_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps checks that a program calling the API through this package
// builds without Kafka, goka, LevelDB or gonum: what go list -deps reports
// for the package holds none of them.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/streamrls/streamrls/client").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "net/http") || !slices.Contains(deps, "github.com/streamrls/streamrls/schema") {
		t.Fatalf("go list -deps gave %d packages, without net/http or schema: %q", len(deps), deps)
	}
	heavy := []string{"github.com/lovoo/goka", "github.com/IBM/sarama", "github.com/syndtr/goleveldb",
		"gonum.org/v1/gonum", "gonum.org/v1/plot", "github.com/twmb/franz-go", "github.com/prometheus/"}
	for _, d := range deps {
		for _, h := range heavy {
			if strings.HasPrefix(d, h) {
				t.Errorf("client depends on %s", d)
			}
		}
		// Besides the API's types, only the standard library (no dot in
		// the first path element).
		if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") && d != "github.com/streamrls/streamrls/schema" &&
			d != "github.com/streamrls/streamrls/client" {
			t.Errorf("client depends on %s, outside the standard library", d)
		}
	}
}
