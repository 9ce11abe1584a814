package apiserver_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/apiserver"
)

// TestOpenAPIRoutesExist checks that every operation openapi.yaml documents
// is routed (no "no route" 404, no 405) when the optional parts (demo feed,
// DRM) are configured.
func TestOpenAPIRoutesExist(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	e := newEnv(t, func(cfg *apiserver.Config) {
		cfg.Feed = &fakeFeed{running: map[string]bool{}}
		cfg.DRM = fakeLicense{}
	})
	ops := 0
	for path, item := range c.doc.Paths.Map() {
		path = strings.ReplaceAll(path, "{id}", uuid.Must(uuid.NewV7()).String())
		for method := range item.Operations() {
			ops++
			got := e.do(method, path, []byte("{}"))
			if got.status == http.StatusMethodNotAllowed || strings.Contains(string(got.body), "no route for") {
				t.Errorf("%s %s is documented but not routed: %d %s", method, path, got.status, got.body)
			}
		}
	}
	if ops < 20 {
		t.Errorf("found %d documented operations; is openapi.yaml complete?", ops)
	}
}

// TestOpenAPIDocumentsEveryRoute reads the routes server.go registers
// (rt.GET("/jobs/:id", ...)) and checks that openapi.yaml documents each:
// a route added without its description fails here.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	routes := registeredRoutes(t, "server.go")
	if len(routes) < 15 {
		t.Fatalf("found %d routes in server.go; has routes() moved?", len(routes))
	}
	param := regexp.MustCompile(`:(\w+)`)
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		path = param.ReplaceAllString(path, "{$1}")
		item := c.doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("server.go routes %s %s, but openapi.yaml does not document it", method, path)
		}
	}
}

// registeredRoutes lists "METHOD /path" for every rt.METHOD("/path", ...)
// call in file.
func registeredRoutes(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !slices.Contains(methods, sel.Sel.Name) {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("route %s with a path that is not a literal: update this test", sel.Sel.Name)
			return true
		}
		path, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sel.Sel.Name+" "+path)
		return true
	})
	return out
}
