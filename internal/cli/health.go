package cli

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ezlivestreaming/ezlive/apiserver"
)

// defaultDrain is how long a server behind a load balancer keeps serving
// after SIGTERM while its /readyz already answers 503.
const defaultDrain = 5 * time.Second

// addDrain adds -drain, read from env, to a server's flags.
func addDrain(fs *flagSet, env string, def time.Duration) *time.Duration {
	return fs.Duration("drain", env, def,
		"on SIGTERM, answer 503 on /readyz at once and keep serving this long before shutting down (0: shut down at once)")
}

// drain is how a server leaves its load balancer: when its context ends it
// turns not ready at once, keeps serving for period, then shuts down.
type drain struct {
	ready  interface{ Drain() } // what answers /readyz; nil: nothing does
	period time.Duration
}

// start turns the server not ready, then waits out the period, or returns
// the server's error if it fails meanwhile.
func (d drain) start(log *slog.Logger, name string, failed <-chan error) error {
	if d.ready != nil {
		d.ready.Drain()
	}
	if d.period <= 0 {
		return nil
	}
	log.Info(name+" draining", "period", d.period)
	select {
	case <-time.After(d.period):
		return nil
	case err := <-failed:
		return err
	}
}

// withHealth serves /healthz and /readyz from health and everything else
// from h. Like withMetrics it matches the paths itself, so that h sees its
// requests unchanged.
func withHealth(h http.Handler, health *apiserver.Health) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			health.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// pinger is a dependency that can say cheaply whether it answers (the Nomad
// driver does).
type pinger interface {
	Ping(ctx context.Context) error
}
