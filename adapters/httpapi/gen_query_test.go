package httpapi

import (
	"os"
	"strings"
	"testing"
)

// TestWrappersParseTheQueryOnce: every generated Gin wrapper parses the
// query string at most once (gen/gin-wrappers.tmpl), not once per query
// parameter as oapi-codegen's own template does; and the wrappers with
// query parameters bind them from that one parse.
func TestWrappersParseTheQueryOnce(t *testing.T) {
	src, err := os.ReadFile("gen/api.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	wrappers, bound := 0, 0
	for _, fn := range strings.Split(string(src), "\nfunc ")[1:] {
		if !strings.HasPrefix(fn, "(siw *ServerInterfaceWrapper) ") {
			continue
		}
		wrappers++
		rest := strings.TrimPrefix(fn, "(siw *ServerInterfaceWrapper) ")
		name, _, _ := strings.Cut(rest, "(")
		if n := strings.Count(fn, "URL.Query()"); n > 1 {
			t.Errorf("%s parses the query string %d times", name, n)
		}
		if strings.Contains(fn, "BindQueryParameter") {
			bound++
			if !strings.Contains(fn, `, query, &params.`) {
				t.Errorf("%s binds a query parameter from another parse", name)
			}
		}
	}
	if wrappers < 50 || bound < 10 {
		t.Fatalf("%d wrappers, %d with query parameters: not the generated file this test reads", wrappers, bound)
	}
}
