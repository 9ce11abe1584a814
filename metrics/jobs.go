package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// JobSource is what the jobs collector reads of the store (store.Store).
type JobSource interface {
	ListJobs(ctx context.Context, opt store.ListOptions) ([]*jobspec.LiveJob, string, error)
	Loads(ctx context.Context) (map[string]store.Load, error)
	QueueLength(ctx context.Context) (int64, error)
}

// CommandQueue is what the jobs collector reads of the command queue
// (queue.Queue).
type CommandQueue interface {
	Depth(ctx context.Context) (int, time.Duration, error)
}

var _ JobSource = (*store.Store)(nil)

// scrapeTimeout bounds the Redis reads of one scrape.
const scrapeTimeout = 5 * time.Second

// listPage is how many job records one Redis read of a scrape decodes.
const listPage = 500

// allStates are reported even when no job is in them, so that a graph of a
// state shows 0 rather than nothing.
var allStates = []jobspec.State{
	jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming,
	jobspec.StateStopping, jobspec.StateStopped, jobspec.StateFailed, jobspec.StateDeleting,
}

// Jobs reports the platform's state from Redis at scrape time: jobs by
// state and with failing outputs, each active job's stats, heartbeat age
// and output failure, each node's load, and
// the queues. Reading at scrape time means any instance reports the whole
// platform, and a deleted job's series vanish with it.
type Jobs struct {
	src   JobSource
	queue CommandQueue // nil: not reported
	now   func() time.Time

	byState, fps, bitrate, speed, frames, dropped, bytesIn, restarts, heartbeatAge *prometheus.Desc
	nodeCPU, nodeJobs, queued, queueDepth, queueAge                                *prometheus.Desc

	outputsFailing, outputFailingFor, uploadFailures *prometheus.Desc
}

// NewJobs returns the collector; q may be nil. Register it.
func NewJobs(src JobSource, q CommandQueue) *Jobs {
	job := []string{"job_id", "node_id"}
	node := []string{"node_id"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
	}
	return &Jobs{
		src: src, queue: q, now: time.Now,
		byState:      d("jobs_by_state", "Jobs in each state.", []string{"state"}),
		fps:          d("job_fps", "Frames per second the job's transcoder encodes.", job),
		bitrate:      d("job_bitrate_kbps", "Output bitrate of the job's transcoder, kbit/s.", job),
		speed:        d("job_speed", "Encoding speed relative to real time (1 = real time).", job),
		frames:       d("job_frames", "Frames encoded by the current transcoder.", job),
		dropped:      d("job_dropped_frames", "Frames dropped by the current transcoder.", job),
		bytesIn:      d("job_bytes_in", "Bytes of input received by the current transcoder.", job),
		restarts:     d("job_restarts", "Restarts of ffmpeg within the current placement.", job),
		heartbeatAge: d("job_heartbeat_age_seconds", "Time since the job's transcoder last heartbeated.", job),
		nodeCPU:      d("node_load_cpu", "Cores reserved on a node by the jobs placed on it.", node),
		nodeJobs:     d("node_jobs", "Jobs placed on a node.", node),
		queued:       d("queued_jobs", "Jobs waiting for capacity (queued_jobs).", nil),
		queueDepth:   d("command_queue_depth", "Commands waiting in the command queue (approximate).", nil),
		queueAge:     d("command_queue_oldest_age_seconds", "Age of the oldest waiting command.", nil),

		outputsFailing:   d("jobs_output_failing", "Active jobs whose transcoder reports its writes to the origin failing.", nil),
		outputFailingFor: d("job_output_failing_seconds", "How long the job's writes to the origin have been failing (0: they are taken).", job),
		uploadFailures:   d("job_upload_failures", "Writes to the origin the current transcoder could not make, after retries.", job),
	}
}

// Describe implements prometheus.Collector.
func (c *Jobs) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.byState, c.fps, c.bitrate, c.speed, c.frames, c.dropped, c.bytesIn,
		c.restarts, c.heartbeatAge, c.nodeCPU, c.nodeJobs, c.queued, c.queueDepth, c.queueAge,
		c.outputsFailing, c.outputFailingFor, c.uploadFailures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed read is reported as an
// invalid metric, so the scrape shows the error and the other metrics.
func (c *Jobs) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	c.collectJobs(ctx, ch)
	c.collectLoads(ctx, ch)
	c.collectQueues(ctx, ch)
}

// collectJobs pages through every job record.
func (c *Jobs) collectJobs(ctx context.Context, ch chan<- prometheus.Metric) {
	counts := map[jobspec.State]int{}
	failing := 0
	now := c.now()
	cursor := ""
	for {
		jobs, next, err := c.src.ListJobs(ctx, store.ListOptions{Limit: listPage, Cursor: cursor})
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.byState, err)
			return
		}
		for _, j := range jobs {
			counts[j.State]++
			if j.State.Active() && j.Assigned_worker_id != "" {
				c.collectJob(ch, j, now)
				failing += boolCount(!j.Output_failing_since.IsZero())
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for _, st := range allStates {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.outputsFailing, prometheus.GaugeValue, float64(failing))
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Jobs) collectJob(ch chan<- prometheus.Metric, j *jobspec.LiveJob, now time.Time) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, j.Id, j.Assigned_worker_id)
	}
	if !j.Time_last_heartbeat.IsZero() {
		gauge(c.heartbeatAge, max(now.Sub(j.Time_last_heartbeat).Seconds(), 0))
		failingFor := 0.0
		if !j.Output_failing_since.IsZero() {
			failingFor = max(now.Sub(j.Output_failing_since).Seconds(), 0)
		}
		gauge(c.outputFailingFor, failingFor)
	}
	if s := j.Stats; s != nil {
		gauge(c.fps, s.Fps)
		gauge(c.bitrate, s.Bitrate_kbps)
		gauge(c.speed, s.Speed)
		gauge(c.frames, float64(s.Frames))
		gauge(c.dropped, float64(s.Dropped_frames))
		gauge(c.bytesIn, float64(s.Bytes_in))
		gauge(c.restarts, float64(s.Restarts))
		gauge(c.uploadFailures, float64(s.Upload_failures))
	}
}

func (c *Jobs) collectLoads(ctx context.Context, ch chan<- prometheus.Metric) {
	loads, err := c.src.Loads(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.nodeCPU, err)
		return
	}
	for node, l := range loads {
		ch <- prometheus.MustNewConstMetric(c.nodeCPU, prometheus.GaugeValue, l.CPU, node)
		ch <- prometheus.MustNewConstMetric(c.nodeJobs, prometheus.GaugeValue, float64(len(l.Jobs)), node)
	}
}

func (c *Jobs) collectQueues(ctx context.Context, ch chan<- prometheus.Metric) {
	if n, err := c.src.QueueLength(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.queued, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(n))
	}
	if c.queue == nil {
		return
	}
	n, age, err := c.queue.Depth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.queueDepth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.queueAge, prometheus.GaugeValue, age.Seconds())
}
