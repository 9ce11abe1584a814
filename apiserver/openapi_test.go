package apiserver_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/apiserver"
)

// TestOpenAPIRoutesExist checks that every operation openapi.yaml documents
// is routed (no "no route" 404, no 405), and that the API serves the file.
func TestOpenAPIRoutesExist(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *apiserver.Config) { c.Feed = &fakeFeed{running: map[string]bool{}} })
	a := e.do("GET", "/openapi.yaml", nil).want(t, http.StatusOK)
	pathLine := regexp.MustCompile(`^  (/\S*):$`)
	opLine := regexp.MustCompile(`^    (get|post|put|delete):$`)
	var path string
	ops := 0
	for line := range strings.SplitSeq(string(a.body), "\n") {
		if m := pathLine.FindStringSubmatch(line); m != nil {
			path = strings.ReplaceAll(m[1], "{id}", uuid.Must(uuid.NewV7()).String())
			continue
		}
		m := opLine.FindStringSubmatch(line)
		if m == nil || path == "" {
			continue
		}
		ops++
		method := strings.ToUpper(m[1])
		got := e.do(method, path, []byte("{}"))
		if got.status == http.StatusMethodNotAllowed || strings.Contains(string(got.body), "no route for") {
			t.Errorf("%s %s is documented but not routed: %d %s", method, path, got.status, got.body)
		}
	}
	if ops < 12 {
		t.Errorf("found %d documented operations; is openapi.yaml readable?", ops)
	}
}
