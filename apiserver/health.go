package apiserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// readyTimeout bounds each dependency check of /readyz.
const readyTimeout = 2 * time.Second

// Health answers /healthz and /readyz, in the one format every ezlive server
// uses (the API here, and the scheduler, origin and ingest gateway through
// internal/cli):
//
//	GET|HEAD /healthz  200 {"status":"ok"} while the process serves HTTP
//	GET|HEAD /readyz   200 {"status":"ready","checks":{"<dependency>":"ok",...}};
//	                   503 problem (code unavailable) naming what is down in
//	                   detail and checks; 503 "draining" once Drain is called
//
// It is safe for concurrent use.
type Health struct {
	checks   map[string]func(context.Context) error
	draining atomic.Bool
}

// NewHealth checks the named dependencies on every /readyz, in parallel.
func NewHealth(checks map[string]func(context.Context) error) *Health {
	return &Health{checks: checks}
}

// Drain makes /readyz answer 503 from now on, so that load balancers and
// Nomad stop sending traffic before the server stops serving it.
func (h *Health) Drain() { h.draining.Store(true) }

// ServeHTTP serves GET and HEAD of /healthz and /readyz, and a problem for
// anything else.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
		writeProblem(w, r, problemOf(&httpError{http.StatusNotFound, "no route for " + r.Method + " " + r.URL.Path}))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, r, problemOf(&httpError{http.StatusMethodNotAllowed, r.Method + " is not allowed here; allowed: GET, HEAD"}))
		return
	}
	if r.URL.Path == "/healthz" {
		h.live(w)
		return
	}
	h.ready(w, r)
}

// live says the process serves HTTP; it checks nothing else.
func (h *Health) live(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready says whether every dependency answers and the server is not draining.
func (h *Health) ready(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		p := problemOf(jobspec.Errorf(jobspec.EUNAVAILABLE, "draining: the server is shutting down"))
		p.Checks = map[string]string{"shutdown": "draining"}
		writeProblem(w, r, p)
		return
	}
	results := h.run(r.Context())
	var down []string
	for name, res := range results {
		if res != "ok" {
			down = append(down, name)
		}
	}
	if len(down) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
		return
	}
	slices.Sort(down)
	p := problemOf(jobspec.Errorf(jobspec.EUNAVAILABLE, "not ready: %s down", joinWords(down)))
	p.Checks = results
	writeProblem(w, r, p)
}

// run pings every dependency at once: "ok" or the error, by name.
func (h *Health) run(ctx context.Context) map[string]string {
	results := make(map[string]string, len(h.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, ping := range h.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			res := "ok"
			if err := ping(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

// joinWords is "a", "a and b", "a, b and c".
func joinWords(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// healthz and readyz are the API's routes to its Health.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	s.health.live(w)
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	s.health.ready(w, r)
	return nil
}

// Drain makes the API's /readyz answer 503 from now on (see Health.Drain).
func (s *Server) Drain() { s.health.Drain() }
