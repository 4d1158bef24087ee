package tests

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tradesense/tradesense/"

// TestImportArrows enforces DESIGN.md's arrows (app -> wire -> adapters ->
// core) including the rule depguard cannot express: an adapter never imports
// a sibling adapter. Test files are held to the same rule, except that any
// test may use tests/testenv.
func TestImportArrows(t *testing.T) {
	root := ".."
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") && name != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		layer, unit := layerOf(rel)
		if layer == "" {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			target := strings.TrimPrefix(p, module)
			if target == "tests/testenv" || strings.HasPrefix(target, "tests/testenv/") {
				continue
			}
			tLayer, tUnit := layerOf(target + "/x.go")
			if msg := forbidden(layer, unit, tLayer, tUnit); msg != "" {
				t.Errorf("%s imports %s: %s", rel, p, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d files checked: is the walk rooted right?", checked)
	}
}

// layerOf names the layer of a repository-relative file and, for adapters,
// which adapter (its first path element under adapters/).
func layerOf(rel string) (layer, unit string) {
	parts := strings.Split(rel, "/")
	if len(parts) < 2 {
		return "", ""
	}
	switch parts[0] {
	case "core", "wire", "app", "tests":
		return parts[0], ""
	case "adapters":
		if len(parts) > 2 {
			return "adapters", parts[1]
		}
		return "adapters", ""
	}
	return "", ""
}

func forbidden(layer, unit, tLayer, tUnit string) string {
	rank := map[string]int{"core": 0, "adapters": 1, "wire": 2, "app": 3, "tests": 4}
	if rank[tLayer] > rank[layer] {
		return "arrows point inward: " + layer + " must not import " + tLayer
	}
	if layer == "adapters" && tLayer == "adapters" && unit != tUnit {
		return "an adapter never imports a sibling adapter"
	}
	return ""
}

func TestForbiddenRules(t *testing.T) {
	for _, tc := range []struct {
		layer, unit, tLayer, tUnit string
		bad                        bool
	}{
		{"core", "", "adapters", "sqlstore", true},
		{"adapters", "httpapi", "adapters", "sqlstore", true},
		{"adapters", "httpapi", "adapters", "httpapi", false},
		{"adapters", "httpapi", "core", "", false},
		{"adapters", "httpapi", "wire", "", true},
		{"wire", "", "adapters", "httpapi", false},
		{"wire", "", "app", "", true},
		{"tests", "", "app", "", false},
	} {
		if got := forbidden(tc.layer, tc.unit, tc.tLayer, tc.tUnit) != ""; got != tc.bad {
			t.Errorf("%+v: forbidden = %v", tc, got)
		}
	}
}

// TestEnvironmentReadOnlyInApp enforces DESIGN.md's configuration rule
// that depguard cannot express: only app/ reads the process environment
// (os.Getenv, os.LookupEnv, os.Environ); core, adapters and wire are given
// their configuration, or a getenv function from main.
func TestEnvironmentReadOnlyInApp(t *testing.T) {
	root := ".."
	checked := 0
	for _, dir := range []string{"core", "adapters", "wire"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			checked++
			osName := ""
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == "os" {
					osName = "os"
					if imp.Name != nil {
						osName = imp.Name.Name
					}
				}
			}
			if osName == "" {
				return nil
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == osName {
					switch sel.Sel.Name {
					case "Getenv", "LookupEnv", "Environ":
						rel, _ := filepath.Rel(root, path)
						t.Errorf("%s reads the environment (os.%s): only app/ may; pass the value or a getenv in", filepath.ToSlash(rel), sel.Sel.Name)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d files checked: is the walk rooted right?", checked)
	}
}
