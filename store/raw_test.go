package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

var allStates = []jobspec.State{
	jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming,
	jobspec.StateStopping, jobspec.StateStopped, jobspec.StateFailed, jobspec.StateDeleting,
}

// The raw read path gives the same pages, cursors and jobs as decoding the
// records, with their live fields, and encoding them again (ListJobs, Job),
// filtered or not. Only the order of the members differs: the live fields
// are spliced in last.
func TestRawReadsMatchDecoded(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	ctx := context.Background()
	if got, next, err := s.ListJobsJSON(ctx, store.ListOptions{}); string(got) != "[]" || next != "" || err != nil {
		t.Fatalf("empty store: %s, next %q, %v", got, next, err)
	}
	for i := range 30 {
		j := newJob(fmt.Sprintf("job%02d", i))
		j.State = allStates[i%len(allStates)]
		// A member named State inside the spec must not be taken for the job's.
		j.Spec.Input = json.RawMessage(`{"State":"streaming","Url":"rtmp://x/"}`)
		j.Job_validation_warnings = []string{`a "quoted" warning`}
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	// Every third job has live fields (job_live), as a heartbeat leaves them.
	for i := 0; i < 30; i += 3 {
		live, _ := json.Marshal(map[string]any{
			"Stats":               jobspec.Stats{Fps: 25, Frames: int64(i)},
			"Time_last_heartbeat": fmt.Sprintf("2026-12-02T07:00:%02dZ", i),
		})
		if err := srv.Client(t).HSet(ctx, store.KeyJobLive, fmt.Sprintf("job%02d", i), live).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Every fourth job has stored bytes (job_bytes), as a sweep leaves them.
	for i := 0; i < 30; i += 4 {
		if err := s.SaveJobBytes(ctx, fmt.Sprintf("job%02d", i), int64(1000*i+1), time.Date(2026, 12, 2, 8, 0, i, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	// A record gone between the index read and the records' read is skipped.
	if err := srv.Client(t).HDel(ctx, store.KeyJobs, "job07").Err(); err != nil {
		t.Fatal(err)
	}

	filters := [][]jobspec.State{nil, {jobspec.StateStreaming}, {jobspec.StateStopped, jobspec.StateFailed}, {"none"}}
	for _, states := range filters {
		for _, limit := range []int{0, 1, 3, 4, 29, 100} {
			name := fmt.Sprintf("states %v limit %d", states, limit)
			opt := store.ListOptions{States: states, Limit: limit}
			for pages := 0; ; pages++ {
				want, wantNext, err := s.ListJobs(ctx, opt)
				if err != nil {
					t.Fatal(err)
				}
				got, next, err := s.ListJobsJSON(ctx, opt)
				if err != nil {
					t.Fatal(err)
				}
				wantJSON, _ := json.Marshal(want)
				if len(want) == 0 {
					wantJSON = []byte("[]")
				}
				if !sameJSON(t, got, wantJSON) || next != wantNext {
					t.Fatalf("%s, page %d from %q:\n got %s next %q\nwant %s next %q", name, pages, opt.Cursor, got, next, wantJSON, wantNext)
				}
				if next == "" {
					break
				}
				opt.Cursor = next
			}
		}
	}

	one, err := s.JobJSON(ctx, "job12")
	if err != nil {
		t.Fatal(err)
	}
	job, _ := s.Job(ctx, "job12")
	if job.Stats == nil || job.Stats.Frames != 12 {
		t.Errorf("Job(job12) has not its live fields: %+v", job.Stats)
	}
	if job.Bytes_stored != 12001 || job.Time_bytes_measured.Second() != 12 {
		t.Errorf("Job(job12) has not its stored bytes: %d at %v", job.Bytes_stored, job.Time_bytes_measured)
	}
	if want, _ := json.Marshal(job); !sameJSON(t, one, want) {
		t.Errorf("JobJSON:\n got %s\nwant %s", one, want)
	}
	for _, id := range []string{"job07", "nope"} {
		if _, err := s.JobJSON(ctx, id); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
			t.Errorf("JobJSON(%s): %v, want not found", id, err)
		}
	}
}

// sameJSON reports whether a and b are the same JSON value, whatever the
// order of the members.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}
