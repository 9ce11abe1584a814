package cli

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/store"
	"github.com/ezlivestreaming/ezlive/webhook"
)

// What the servers add for operators: /metrics on each, and the webhook
// dispatcher in the scheduler (and in dev).

// webhookFlags configure the webhook dispatcher.
type webhookFlags struct {
	url, secret *string
}

func addWebhook(fs *flagSet) webhookFlags {
	return webhookFlags{
		url:    fs.String("webhook-url", "EZLIVE_WEBHOOK_URL", "", "URL every job state change is POSTed to (empty: no webhooks)"),
		secret: fs.String("webhook-secret", "EZLIVE_WEBHOOK_SECRET", "", "secret of the webhooks' HMAC-SHA256 signature header X-Ezlive-Signature"),
	}
}

// dispatcher returns the webhook dispatcher as a part for runAll; with no
// URL it is a part that only waits for the end.
func (w webhookFlags) dispatcher(st *store.Store, reg prometheus.Registerer, log *slog.Logger) (func(context.Context) error, error) {
	if *w.url == "" {
		return func(ctx context.Context) error { <-ctx.Done(); return nil }, nil
	}
	if u, err := url.Parse(*w.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("-webhook-url: %q is not an http(s) URL", *w.url)
	}
	d, err := webhook.New(webhook.Config{Events: st, Jobs: st, URL: *w.url, Secret: *w.secret, Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("webhooks on", "webhook_url", *w.url)
	return d.Run, nil
}

// schedulerMetrics registers the scheduler's counters and the collectors
// that read jobs, loads and the queues at scrape time.
func schedulerMetrics(reg *prometheus.Registry, st *store.Store, q queue.Queue) scheduler.Metrics {
	reg.MustRegister(metrics.NewJobs(st, q))
	return metrics.NewScheduler(reg)
}

// originMetrics registers the origin's byte and request counters.
func originMetrics(reg *prometheus.Registry, srv *origin.Server) {
	reg.MustRegister(metrics.NewOrigin(srv))
}

// originRegistry is the registry of an origin process.
func originRegistry(srv *origin.Server) *prometheus.Registry {
	reg := metrics.NewRegistry()
	originMetrics(reg, srv)
	return reg
}

// withMetrics serves GET /metrics from reg and everything else from h. It
// matches the one path itself rather than through a ServeMux, which would
// clean and redirect the paths h receives.
func withMetrics(h http.Handler, reg *prometheus.Registry) http.Handler {
	m := metrics.Handler(reg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
