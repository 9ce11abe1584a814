package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/metrics"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestJobsReportOutputFailures: the jobs whose writes to the origin fail
// are counted, each job says for how long (0 when they are taken) and how
// many of its writes failed.
func TestJobsReportOutputFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(redistest.Start(t).Client(t))
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewJobs(st, nil))
	failingSince := time.Now().Add(-30 * time.Second)
	for id, since := range map[string]time.Time{"bad": failingSince, "good": {}} {
		createJob(t, st, id)
		if _, err := st.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error {
			j.Placement_generation, j.Assigned_worker_id = 1, "n1"
			j.SetState(jobspec.StateScheduled, "test", time.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		hb := store.HeartbeatReport{JobID: id, Generation: 1, Streaming: true, Time: time.Now(),
			Stats: jobspec.Stats{Upload_failures: 7}, OutputFailingSince: since}
		if !since.IsZero() {
			hb.OutputError = "PUT a.m3u8: origin answered 500 Internal Server Error"
		}
		if _, err := st.RecordHeartbeat(ctx, hb); err != nil {
			t.Fatal(err)
		}
	}
	bad, good := map[string]string{"job_id": "bad"}, map[string]string{"job_id": "good"}
	want(t, reg, "ezlive_jobs_output_failing", nil, 1)
	want(t, reg, "ezlive_job_output_failing_seconds", good, 0)
	want(t, reg, "ezlive_job_upload_failures", bad, 7)
	if s, ok := value(t, reg, "ezlive_job_output_failing_seconds", bad); !ok || s < 30 {
		t.Errorf("failing for %v s (present %v), want at least 30", s, ok)
	}
}
