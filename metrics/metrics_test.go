package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
	"github.com/ezlivestreaming/ezlive/store"
)

// value returns the value of the series name{labels} in reg, and whether
// it exists. Gathering fails the test, as a scrape would show an error.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

func want(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, v float64) {
	t.Helper()
	got, ok := value(t, reg, name, labels)
	if !ok || got != v {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
	}
}

func sampleSpec(t *testing.T) jobspec.Spec {
	t.Helper()
	body, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _, err := jobspec.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func createJob(t *testing.T, st *store.Store, id string) {
	t.Helper()
	job := &jobspec.LiveJob{Id: id, StreamKey: "k" + id, Spec: sampleSpec(t), Time_created: time.Now()}
	job.SetState(jobspec.StateCreated, "test", time.Now())
	if err := st.CreateJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

func TestJobsReadsRedisAtScrapeTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	st := store.New(rdb)
	q, err := queue.NewRedisStream(rdb, queue.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewJobs(st, q))

	createJob(t, st, "j1")
	createJob(t, st, "j2")
	if _, err := st.UpdateJob(ctx, "j2", func(j *jobspec.LiveJob) error {
		j.Placement_generation, j.Assigned_worker_id, j.Time_scheduled = 1, "n1", time.Now()
		j.SetState(jobspec.StateScheduled, "test", time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hb := store.HeartbeatReport{JobID: "j2", Generation: 1, Time: time.Now(),
		Stats: jobspec.Stats{Fps: 25, Bitrate_kbps: 3000, Speed: 1.01, Frames: 250}}
	if _, err := st.RecordHeartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}
	if err := st.Reserve(ctx, "n1", "j2", 1.5); err != nil {
		t.Fatal(err)
	}
	if err := st.Enqueue(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, queue.Command{Verb: queue.Create, JobID: "j1", Sent: time.Now()}); err != nil {
		t.Fatal(err)
	}

	j2 := map[string]string{"job_id": "j2", "node_id": "n1"}
	want(t, reg, "ezlive_jobs_by_state", map[string]string{"state": "created"}, 1)
	want(t, reg, "ezlive_jobs_by_state", map[string]string{"state": "running"}, 1)
	want(t, reg, "ezlive_jobs_by_state", map[string]string{"state": "failed"}, 0)
	want(t, reg, "ezlive_job_fps", j2, 25)
	want(t, reg, "ezlive_job_bitrate_kbps", j2, 3000)
	want(t, reg, "ezlive_job_speed", j2, 1.01)
	want(t, reg, "ezlive_job_frames", j2, 250)
	want(t, reg, "ezlive_node_load_cpu", map[string]string{"node_id": "n1"}, 1.5)
	want(t, reg, "ezlive_node_jobs", map[string]string{"node_id": "n1"}, 1)
	want(t, reg, "ezlive_queued_jobs", nil, 1)
	want(t, reg, "ezlive_command_queue_depth", nil, 1)
	if age, ok := value(t, reg, "ezlive_job_heartbeat_age_seconds", j2); !ok || age < 0 {
		t.Errorf("heartbeat age of j2: %v (present %v)", age, ok)
	}
	if _, ok := value(t, reg, "ezlive_job_fps", map[string]string{"job_id": "j1"}); ok {
		t.Error("a job with no placement has an fps series")
	}

	if err := st.DeleteJob(ctx, "j2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := value(t, reg, "ezlive_job_fps", j2); ok {
		t.Error("a deleted job keeps its fps series")
	}
	want(t, reg, "ezlive_jobs_by_state", map[string]string{"state": "running"}, 0)
}

// TestJobsReportsRedisDown checks that a scrape with Redis gone says so
// instead of reporting zeros.
func TestJobsReportsRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewJobs(store.New(rdb), nil))
	srv.Stop()
	if _, err := reg.Gather(); err == nil {
		t.Fatal("gather with Redis down: no error")
	}
}

func TestSchedulerCountsDecisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(redistest.Start(t).Client(t))
	reg := prometheus.NewRegistry()
	sched, err := scheduler.New(scheduler.Config{
		Store: st, Driver: schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 64}), Instance: "s1", Metrics: metrics.NewScheduler(reg),
		Logger: slog.New(slog.DiscardHandler), StartTimeout: time.Second, MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	createJob(t, st, "j1")
	if err := sched.ReconcileJob(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	a := map[string]string{"node_id": "a"}
	want(t, reg, "ezlive_scheduler_placements_total", a, 1)

	for range 2 { // dead twice: re-placed once, then failed
		if _, err := st.UpdateJob(ctx, "j1", func(j *jobspec.LiveJob) error {
			j.Time_scheduled = time.Now().Add(-time.Hour) // past the start timeout and any backoff
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := sched.ReconcileJob(ctx, "j1"); err != nil {
			t.Fatal(err)
		}
	}
	want(t, reg, "ezlive_scheduler_placements_total", a, 2)
	want(t, reg, "ezlive_scheduler_replacements_total", a, 1)
	want(t, reg, "ezlive_scheduler_job_failures_total", nil, 1)
}

func TestOriginCountersAfterPutAndGet(t *testing.T) {
	t.Parallel()
	org, err := origin.New(origin.Config{
		Root: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Authorizer: origin.AuthorizerFunc(func(_ context.Context, _, token string) error {
			if token != "T" {
				return errors.New("wrong token")
			}
			return nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	srv := httptest.NewServer(org)
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewOrigin(org))

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/live/job1/video/seg_1.ts", strings.NewReader("12345"))
	req.Header.Set("Authorization", "Bearer T")
	mustDo(t, req, http.StatusNoContent)
	get, _ := http.NewRequest(http.MethodGet, srv.URL+"/live/job1/video/seg_1.ts", nil)
	mustDo(t, get, http.StatusOK)

	want(t, reg, "ezlive_origin_bytes_in_total", nil, 5)
	want(t, reg, "ezlive_origin_bytes_out_total", nil, 5)
	want(t, reg, "ezlive_origin_requests_total", nil, 2)

	// The same over HTTP, in the text format Prometheus scrapes.
	scrape := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(scrape.Close)
	resp, err := http.Get(scrape.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "ezlive_origin_bytes_out_total 5\n") {
		t.Errorf("scrape lacks the origin's bytes out:\n%s", body)
	}
}

func mustDo(t *testing.T, req *http.Request, status int) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d", req.Method, req.URL.Path, resp.StatusCode, status)
	}
}
