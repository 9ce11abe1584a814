package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestJobBytes: a job's stored bytes are in every read of it, stay out of
// its record when it is updated, are not saved for a job without a record,
// and go with the job.
func TestJobBytes(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := s.CreateJob(ctx, newJob("j1")); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC)
	if err := s.SaveJobBytes(ctx, "j1", 4096, at); err != nil {
		t.Fatal(err)
	}
	want := func(what string, j *jobspec.LiveJob, err error) {
		t.Helper()
		if err != nil || j.Bytes_stored != 4096 || !j.Time_bytes_measured.Equal(at) {
			t.Errorf("%s: %v; Bytes_stored %d at %v, want 4096 at %v", what, err, j.Bytes_stored, j.Time_bytes_measured, at)
		}
	}
	j, err := s.Job(ctx, "j1")
	want("Job", j, err)
	locked, err := s.TryLockJobs(ctx, []string{"j1"}, "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want("TryLockJobs", locked[0].Job, locked[0].Err)
	j, err = s.UpdateJob(ctx, "j1", func(j *jobspec.LiveJob) error { j.State_reason = "changed"; return nil })
	want("UpdateJob", j, err)
	if rec := rdb.HGet(ctx, store.KeyJobs, "j1").Val(); strings.Contains(rec, "Bytes_stored") {
		t.Errorf("the record in jobs holds the stored bytes: %s", rec)
	}
	if raw, err := s.JobJSON(ctx, "j1"); err != nil || !strings.Contains(string(raw), `"Bytes_stored":4096,"Time_bytes_measured":"2026-12-02T08:30:00Z"`) {
		t.Errorf("JobJSON: %s, %v", raw, err)
	}

	if err := s.SaveJobBytes(ctx, "gone", 1, at); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteJob(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.HLen(ctx, store.KeyJobBytes).Val(); n != 0 {
		t.Errorf("job_bytes holds %d entries after the job was deleted and one without a record was saved", n)
	}
}
