// Package metrics exposes ezlive to Prometheus: counters of what the
// scheduler decides, and collectors that read jobs, loads, the command queue
// and the origin's counters at scrape time. It only reads; it never changes a
// job, a load or a placement.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "ezlive"

// NewRegistry returns a registry with the Go runtime and process collectors,
// to which a process adds its own.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Scheduler counts the scheduler's decisions; it implements
// scheduler.Metrics. Counters carry node_id, not job_id, so that their
// number stays bounded by the cluster's size.
type Scheduler struct {
	placements  *prometheus.CounterVec
	replaced    *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	jobFailures prometheus.Counter
}

// NewScheduler registers the scheduler's counters on reg.
func NewScheduler(reg prometheus.Registerer) *Scheduler {
	m := &Scheduler{
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "scheduler", Name: "placements_total",
			Help: "Placements the driver accepted (first placements, re-placements and sweep restarts), by node.",
		}, []string{"node_id"}),
		replaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "scheduler", Name: "replacements_total",
			Help: "Dead placements moved off a node, by the node they died on.",
		}, []string{"node_id"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "scheduler", Name: "placement_refusals_total",
			Help: "Placements the cluster refused, by node.",
		}, []string{"node_id"}),
		jobFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "scheduler", Name: "job_failures_total",
			Help: "Jobs failed: their re-placements used up, or their outputs failing past the bound.",
		}),
	}
	reg.MustRegister(m.placements, m.replaced, m.refusals, m.jobFailures)
	return m
}

// Placed implements scheduler.Metrics.
func (m *Scheduler) Placed(_, nodeID string) { m.placements.WithLabelValues(nodeID).Inc() }

// Replaced implements scheduler.Metrics.
func (m *Scheduler) Replaced(_, nodeID, _ string) { m.replaced.WithLabelValues(nodeID).Inc() }

// Refused implements scheduler.Metrics.
func (m *Scheduler) Refused(_, nodeID, _ string) { m.refusals.WithLabelValues(nodeID).Inc() }

// Failed implements scheduler.Metrics.
func (m *Scheduler) Failed(string, string) { m.jobFailures.Inc() }

// Handler serves reg in the Prometheus text format. A collector that fails
// (Redis down) is reported in the answer's errors; the rest is still served.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: reg})
}
