package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines keeps the command line to flags and wiring: whatever needs
// more belongs in a package.
const maxFuncLines = 60

// tooLong are the functions still over maxFuncLines, each with why. An
// entry that is no longer too long fails the test, so that it is removed.
var tooLong = map[string]string{}

// TestFunctionLength fails naming every function or method of the
// command's non-test files longer than maxFuncLines, from its func line to
// its closing brace.
func TestFunctionLength(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			checked++
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			why, known := tooLong[funcName(fn)]
			switch {
			case n > maxFuncLines && known:
				t.Logf("%s: %s is %d lines long: %s", fset.Position(fn.Pos()), funcName(fn), n, why)
			case n > maxFuncLines:
				t.Errorf("%s: %s is %d lines long, want at most %d", fset.Position(fn.Pos()), funcName(fn), n, maxFuncLines)
			case known:
				t.Errorf("%s: %s is %d lines long now: remove it from tooLong", fset.Position(fn.Pos()), funcName(fn), n)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d functions: the files were not found", checked)
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	recv := fn.Recv.List[0].Type
	if s, ok := recv.(*ast.StarExpr); ok {
		recv = s.X
	}
	if id, ok := recv.(*ast.Ident); ok {
		return "(" + id.Name + ")." + fn.Name.Name
	}
	return fn.Name.Name
}
