package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// exempt are the directories, relative to the module root, whose code may
// name command-line flags: the command line itself and the code that
// spawns the binary.
var exempt = []string{"cmd", "internal/bench", "internal/testkit"}

// flagName is a command-line flag's name in a text: two dashes and a letter.
var flagName = regexp.MustCompile(`--[a-zA-Z]`)

// TestNoFlagNamesInLibraries: only the command line knows its flags. A
// library's error names the configuration field or says what is wrong, and
// cmd maps it to the flag.
func TestNoFlagNamesInLibraries(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	walkSources(t, root, isExempt, func(path, rel string) error {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				s = lit.Value
			}
			if flagName.MatchString(s) {
				p := fset.Position(lit.Pos())
				t.Errorf("%s:%d: a flag name in a library string: %s", rel, p.Line, lit.Value)
			}
			return true
		})
		return nil
	})
}

func isExempt(rel string) bool {
	for _, e := range exempt {
		if rel == e || strings.HasPrefix(rel, e+"/") {
			return true
		}
	}
	return false
}
