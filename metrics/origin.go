package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/origin"
)

// OriginStats is what the origin collector reads ((*origin.Server).Stats).
type OriginStats interface {
	Stats() origin.Stats
}

// Origin turns the origin's own counters into Prometheus counters at scrape
// time, so the origin needs no Prometheus code.
type Origin struct {
	src                       OriginStats
	bytesIn, bytesOut, served *prometheus.Desc
}

// NewOrigin returns the collector of src's counters; register it.
func NewOrigin(src OriginStats) *Origin {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "origin", name), help, nil, nil)
	}
	return &Origin{
		src:      src,
		bytesIn:  desc("bytes_in_total", "Body bytes the origin received (segment and manifest uploads)."),
		bytesOut: desc("bytes_out_total", "Body bytes the origin sent to players."),
		served:   desc("requests_total", "Requests the origin handled, whatever their outcome."),
	}
}

// Describe implements prometheus.Collector.
func (c *Origin) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytesIn
	ch <- c.bytesOut
	ch <- c.served
}

// Collect implements prometheus.Collector.
func (c *Origin) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(c.bytesIn, prometheus.CounterValue, float64(st.BytesIn))
	ch <- prometheus.MustNewConstMetric(c.bytesOut, prometheus.CounterValue, float64(st.BytesOut))
	ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(st.Requests))
}
