package apiserver

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/metrics"
)

// httpMetrics counts the API's requests by route (the pattern, so that job
// ids do not multiply series), method and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	streams  prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "api", Name: "requests_total",
			Help: "API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "api", Name: "request_duration_seconds",
			Help:    "Time to answer an API request, by route pattern and method (event streams excluded).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "api", Name: "event_streams",
			Help: "Server-Sent Event streams open now.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.streams)
	return m
}

// observe records one answered request; a stream's duration is how long the
// client stayed, not a latency, so it is left out of the histogram.
func (m *httpMetrics) observe(r *http.Request, n *requestNote, status int, took time.Duration) {
	route := n.route
	if route == "" {
		route = "other" // no API route: the demo page or a 404
	}
	m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
	if !n.stream {
		m.latency.WithLabelValues(route, r.Method).Observe(took.Seconds())
	}
}

// routeOf rebuilds the pattern a request matched from its path and params:
// /jobs/0190…/stop → /jobs/:id/stop.
func routeOf(path string, ps httprouter.Params) string {
	for _, p := range ps {
		if p.Value != "" {
			path = strings.Replace(path, "/"+p.Value, "/:"+p.Key, 1)
		}
	}
	return path
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}
