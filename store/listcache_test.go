package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestListCache: a page is served from memory while no record was written
// (a change made behind the store's back is not seen), every write through
// the store (create, update, delete) shows in the next page at once, and a
// heartbeat's stats, which move no counter, show once the page is maxAge
// old.
func TestListCache(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const maxAge = 2 * time.Second // long enough that a loaded machine does not see a page expire between two lists
	s := store.New(srv.Client(t), store.CacheLists(maxAge))
	ctx := context.Background()
	list := func(opt store.ListOptions) string {
		t.Helper()
		b, _, err := s.ListJobsJSON(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	createPlaced(t, s, "a", 1)
	if got := list(store.ListOptions{}); !strings.Contains(got, `"Id":"a"`) {
		t.Fatalf("first page: %s", got)
	}

	// Behind the store's back: the cached page stands.
	raw := rawRecord(t, srv, "a")
	if err := srv.Client(t).HSet(ctx, store.KeyJobs, "a", strings.Replace(raw, `"Assigned_worker_id":""`, `"Assigned_worker_id":"sneaky"`, 1)).Err(); err != nil {
		t.Fatal(err)
	}
	if got := list(store.ListOptions{}); strings.Contains(got, "sneaky") {
		t.Fatalf("a write that moved no counter was read: the page was not cached: %s", got)
	}

	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"create", func() error { return s.CreateJob(ctx, newJob("b")) }, `"Id":"b"`},
		{"update", func() error {
			_, err := s.UpdateJob(ctx, "b", func(j *jobspec.LiveJob) error { j.Assigned_worker_id = "node-7"; return nil })
			return err
		}, `"node-7"`},
		{"delete", func() error { return s.DeleteJob(ctx, "b") }, ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := list(store.ListOptions{})
		if st.want != "" && !strings.Contains(got, st.want) {
			t.Errorf("after %s the page lacks %s: %s", st.name, st.want, got)
		}
		if st.name == "delete" && strings.Contains(got, `"Id":"b"`) {
			t.Errorf("after delete the page still has b: %s", got)
		}
	}
	// Other pages are their own: a filtered one is read afresh.
	if got := list(store.ListOptions{States: []jobspec.State{jobspec.StateScheduled}}); !strings.Contains(got, "sneaky") {
		t.Errorf("filtered page: %s", got)
	}

	// A heartbeat that changes the state writes the record: seen at once.
	// One that changes only stats moves no counter: seen once the page is
	// maxAge old.
	beat := func(frames int64) {
		t.Helper()
		hb := store.HeartbeatReport{JobID: "a", Generation: 1, Stats: jobspec.Stats{Frames: frames}, Time: time.Now()}
		if _, err := s.RecordHeartbeat(ctx, hb); err != nil {
			t.Fatal(err)
		}
	}
	beat(1)
	if got := list(store.ListOptions{}); !strings.Contains(got, `"State":"running"`) || !strings.Contains(got, `"Frames":1,`) {
		t.Fatalf("a heartbeat's change of state not in the next page: %s", got)
	}
	beat(4242)
	if got := list(store.ListOptions{}); strings.Contains(got, `"Frames":4242`) {
		t.Errorf("a stats-only heartbeat moved the counter: %s", got)
	}
	time.Sleep(maxAge)
	if got := list(store.ListOptions{}); !strings.Contains(got, `"Frames":4242`) {
		t.Errorf("stats older than maxAge not in the page: %s", got)
	}
}
