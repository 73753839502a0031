package lint

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/streamrls/streamrls"

// layering is the table of docs/design.md's "Package layering": for each
// package of the module, the packages of the module it may import. A nil
// entry means any.
type layering map[string][]string

// readLayering parses the Markdown table whose header is
// "| package | job | may import (within the module) |".
func readLayering(path string) (layering, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := layering{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "| package | job | may import") {
			in = true
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		pkgs := ticked(cells[0])
		var allowed []string
		imp := strings.TrimSpace(cells[2])
		switch {
		case imp == "any":
			allowed = nil
		case imp == "—" || imp == "-":
			allowed = []string{}
		default:
			allowed = ticked(imp)
			if len(allowed) == 0 {
				return nil, fmt.Errorf("%s: row %q: imports %q name no package", path, line, imp)
			}
		}
		for _, p := range pkgs {
			out[p] = allowed
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no layering table found", path)
	}
	return out, sc.Err()
}

// ticked returns the `backticked` words of s.
func ticked(s string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(s, "`")
		if !ok {
			return out
		}
		w, after, ok := strings.Cut(rest, "`")
		if !ok {
			return out
		}
		out = append(out, w)
		s = after
	}
}

// violations lists every import of graph (package → its imports within the
// module, both relative to the module) that the table does not allow, and
// every package the table does not list.
func (l layering) violations(graph map[string][]string) []string {
	var out []string
	for pkg, imps := range graph {
		allowed, ok := l[pkg]
		if !ok {
			out = append(out, fmt.Sprintf("package %s is not in the layering table", pkg))
			continue
		}
		if allowed == nil {
			continue
		}
		for _, imp := range imps {
			if !slices.Contains(allowed, imp) {
				out = append(out, fmt.Sprintf("%s imports %s, which the table does not allow", pkg, imp))
			}
		}
	}
	slices.Sort(out)
	return out
}

// importGraph asks go list for each package's non-test imports within the
// module.
func importGraph(t *testing.T, root string) map[string][]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		var imps []string
		for _, i := range p.Imports {
			if r, ok := strings.CutPrefix(i, module+"/"); ok {
				imps = append(imps, r)
			}
		}
		graph[rel] = imps
	}
	return graph
}

// moduleLayering returns the module's root and the table of its
// docs/design.md.
func moduleLayering(t *testing.T) (string, layering) {
	t.Helper()
	root := moduleRoot(t)
	table, err := readLayering(filepath.Join(root, "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	return root, table
}

func TestLayering(t *testing.T) {
	root, table := moduleLayering(t)
	for _, v := range table.violations(importGraph(t, root)) {
		t.Error(v)
	}
}

// TestLayeringCatches checks the checker on the table itself: an import that
// runs back up is reported.
func TestLayeringCatches(t *testing.T) {
	_, table := moduleLayering(t)
	for _, tc := range []struct{ pkg, imp string }{
		{"processor", "api"}, {"processor", "history"}, {"rls", "kafkaconf"},
		{"codec", "processor"}, {"schema", "rls"}, {"client", "view"}, {"view", "history"},
	} {
		graph := map[string][]string{tc.pkg: {tc.imp}}
		if v := table.violations(graph); len(v) != 1 {
			t.Errorf("%s importing %s: violations %q, want one", tc.pkg, tc.imp, v)
		}
	}
	if v := table.violations(map[string][]string{"nosuch": nil}); len(v) != 1 {
		t.Errorf("an unlisted package: violations %q, want one", v)
	}
}
