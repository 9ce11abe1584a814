// Package web owns the demo page: its HTML, JavaScript and CSS (embedded) and
// the Shaka Player build (served from node_modules on disk). It only serves
// files; the page talks to the API over HTTP like any other client.
package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultShakaDir is where `npm ci --prefix web` puts the Shaka Player build,
// relative to the repository root (the working directory of `make run`).
const DefaultShakaDir = "web/node_modules/shaka-player/dist"

// Prefix is the path under which every file of the page but index.html is
// served; a router mounts GET and HEAD for "/" and Prefix+"*".
const Prefix = "/web/"

// shakaFiles are the only files of the Shaka build the page loads.
var shakaFiles = map[string]bool{
	"shaka-player.ui.js":  true,
	"shaka-player.ui.map": true,
	"controls.css":        true,
	"controls.css.map":    true,
}

//go:embed static
var static embed.FS

// Config says where to find what is not embedded.
type Config struct {
	// ShakaDir holds shaka-player.ui.js and controls.css; DefaultShakaDir
	// when empty. When the files are missing the page still loads and says
	// how to install them.
	ShakaDir string
}

// Handler serves the page: index.html at "/", its own files under Prefix and
// Shaka Player under Prefix+"shaka/". Only GET and HEAD.
func Handler(cfg Config) http.Handler {
	if cfg.ShakaDir == "" {
		cfg.ShakaDir = DefaultShakaDir
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return &site{
		files:    files,
		own:      http.FileServerFS(files),
		shaka:    http.FileServerFS(os.DirFS(cfg.ShakaDir)),
		shakaDir: cfg.ShakaDir,
	}
}

type site struct {
	files    fs.FS
	own      http.Handler
	shaka    http.Handler
	shakaDir string
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	p := path.Clean(r.URL.Path)
	switch {
	case p == "/" || p == "/index.html":
		// The page changes with each build; the browser must ask again.
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, s.files, "index.html")
	case strings.HasPrefix(p, Prefix+"shaka/"):
		s.serveShaka(w, r, strings.TrimPrefix(p, Prefix+"shaka/"))
	case strings.HasPrefix(p, Prefix):
		w.Header().Set("Cache-Control", "no-cache")
		serveUnder(s.own, strings.TrimPrefix(p, Prefix[:len(Prefix)-1]), w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveShaka serves the few files of the Shaka build the page loads.
func (s *site) serveShaka(w http.ResponseWriter, r *http.Request, name string) {
	switch {
	case !shakaFiles[name]:
		http.NotFound(w, r)
	case name == "controls.css":
		serveLocalCSS(w, r, filepath.Join(s.shakaDir, name))
	default:
		serveUnder(s.shaka, "/"+name, w, r)
	}
}

// serveUnder serves name from a file server rooted where Prefix points.
func serveUnder(h http.Handler, name string, w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(name, "/") || name == "/index.html" {
		http.NotFound(w, r) // no directory listings, one way to the page
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = name
	r2.URL.RawPath = ""
	h.ServeHTTP(w, r2)
}

// remoteFontFace matches an @font-face that loads its font from another
// host: Shaka's controls.css asks fonts.gstatic.com for Roboto.
var remoteFontFace = regexp.MustCompile(`@font-face\s*\{[^}]*url\(\s*["']?(https?:)?//[^}]*\}`)

// serveLocalCSS serves a stylesheet without its remote web fonts, so the page
// loads nothing from elsewhere; the CSS falls back to local fonts.
func serveLocalCSS(w http.ResponseWriter, r *http.Request, name string) {
	f, err := os.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		http.Error(w, "read "+path.Base(name), http.StatusInternalServerError)
		return
	}
	css := remoteFontFace.ReplaceAll(b.Bytes(), nil)
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	http.ServeContent(w, r, path.Base(name), st.ModTime(), bytes.NewReader(css))
}
