package apiserver

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// readyTimeout bounds each dependency check of /readyz.
const readyTimeout = 2 * time.Second

// healthz says the process serves HTTP; it checks nothing else.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether the store (Redis) and the queue answer; a 503 names
// what is down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	checks := map[string]func(context.Context) error{"redis": s.cfg.Store.Ping, "queue": s.cfg.Queue.Ping}
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, ping := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
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
	var down []string
	for _, name := range []string{"redis", "queue"} {
		if results[name] != "ok" {
			down = append(down, name)
		}
	}
	if len(down) == 0 {
		return writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
	}
	p := problemOf(jobspec.Errorf(jobspec.EUNAVAILABLE, "not ready: %s down", joinWords(down)))
	p.Checks = results
	writeProblem(w, r, p)
	return nil
}

func joinWords(words []string) string {
	if len(words) == 2 {
		return words[0] + " and " + words[1]
	}
	return words[0]
}
