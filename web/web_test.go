package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	shaka := t.TempDir()
	for name, body := range map[string]string{
		"shaka-player.ui.js":       "window.shaka = {};",
		"controls.css":             ".shaka-video-container {}",
		"shaka-player.compiled.js": "not served",
	} {
		if err := os.WriteFile(filepath.Join(shaka, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := Handler(Config{ShakaDir: shaka})
	missing := Handler(Config{ShakaDir: filepath.Join(shaka, "nope")})

	for _, tc := range []struct {
		name     string
		h        http.Handler
		method   string
		path     string
		status   int
		ctype    string // prefix
		contains string
	}{
		{"page", h, "GET", "/", 200, "text/html", `src="/web/app.js"`},
		{"page has the editor", h, "GET", "/", 200, "text/html", "Job spec"},
		{"page by name redirects to /", h, "GET", "/index.html", 301, "", ""},
		{"head page", h, "HEAD", "/", 200, "text/html", ""},
		{"app module", h, "GET", "/web/app.js", 200, "text/javascript", "streamJobs"},
		{"styles", h, "GET", "/web/app.css", 200, "text/css", ".layout"},
		{"sample job", h, "GET", "/web/sample_live_job.json", 200, "application/json", `"Video_outputs"`},
		{"shaka ui", h, "GET", "/web/shaka/shaka-player.ui.js", 200, "text/javascript", "window.shaka"},
		{"shaka css", h, "GET", "/web/shaka/controls.css", 200, "text/css", "shaka"},
		{"other shaka files are not served", h, "GET", "/web/shaka/shaka-player.compiled.js", 404, "", ""},
		{"shaka missing", missing, "GET", "/web/shaka/shaka-player.ui.js", 404, "", ""},
		{"page without shaka", missing, "GET", "/", 200, "text/html", "Player"},
		{"no escape from the shaka dir", h, "GET", "/web/shaka/../../web.go", 404, "", ""},
		{"no directory listing", h, "GET", "/web/", 404, "", ""},
		{"unknown path", h, "GET", "/elsewhere", 404, "", ""},
		{"post refused", h, "POST", "/", 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d (%s)", tc.method, tc.path, res.StatusCode, tc.status, body)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("%s %s: Content-Type %q, want %q", tc.method, tc.path, ct, tc.ctype)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("%s %s: body lacks %q", tc.method, tc.path, tc.contains)
			}
		})
	}
}

// The page's own files are embedded; the one copy of the sample job must
// stay the same as jobspec's.
func TestSampleJobMatchesJobspec(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := static.ReadFile("static/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("web/static/sample_live_job.json differs from jobspec/testdata/sample_live_job.json")
	}
}

// Shaka's stylesheet asks Google for a web font; the page must load nothing
// from another host.
func TestControlsCSSLoadsNoRemoteFont(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	css := `.a{color:red}@font-face{font-family:Roboto;font-style:normal;src:url(https://fonts.gstatic.com/s/roboto/x.ttf) format("truetype")}` +
		`@font-face{font-family:Mine;src:url(/fonts/mine.woff2)}.b{color:blue}`
	if err := os.WriteFile(filepath.Join(dir, "controls.css"), []byte(css), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	Handler(Config{ShakaDir: dir}).ServeHTTP(rec, httptest.NewRequest("GET", "/web/shaka/controls.css", nil))
	got := rec.Body.String()
	want := `.a{color:red}@font-face{font-family:Mine;src:url(/fonts/mine.woff2)}.b{color:blue}`
	if rec.Code != 200 || got != want {
		t.Errorf("controls.css: %d %q, want 200 %q", rec.Code, got, want)
	}
}

// The real Shaka build, when installed, references no other host in what
// the page loads.
func TestInstalledShakaIsSelfContained(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("node_modules", "shaka-player", "dist")
	if _, err := os.Stat(filepath.Join(dir, "controls.css")); err != nil {
		t.Skip("shaka-player not installed (npm ci --prefix web)")
	}
	rec := httptest.NewRecorder()
	Handler(Config{ShakaDir: dir}).ServeHTTP(rec, httptest.NewRequest("GET", "/web/shaka/controls.css", nil))
	if strings.Contains(rec.Body.String(), "url(http") {
		t.Error("served controls.css still loads something from another host")
	}
}
