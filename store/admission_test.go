package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

func TestCreateJobWithinLimits(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	alice := store.Admission{Client: "alice", MaxQueued: 2, ClientQuota: 2}
	bob := store.Admission{Client: "bob", MaxQueued: 2, ClientQuota: 2}
	steps := []struct {
		name  string
		id    string
		a     store.Admission
		limit string // "" when it is created
	}{
		{"first", "a1", alice, ""},
		{"second", "a2", alice, ""},
		{"over the quota", "a3", alice, store.LimitClientQuota},
		{"another client", "b1", bob, ""},
		{"no client, no quota", "x1", store.Admission{}, ""},
	}
	for _, st := range steps {
		err := s.CreateJobWithin(ctx, newJob(st.id), st.a)
		var le *store.LimitError
		switch {
		case st.limit == "" && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.limit != "" && (!errors.As(err, &le) || le.Limit != st.limit || jobspec.ErrorCode(err) != jobspec.ELIMIT):
			t.Fatalf("%s: %v, want the %s limit", st.name, err, st.limit)
		case st.limit != "":
			if _, err := s.Job(ctx, st.id); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
				t.Fatalf("%s: a refused job was stored: %v", st.name, err)
			}
		}
	}
	for range 2 { // a second delete, of a job already gone, gives nothing back
		if err := s.DeleteJob(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.HGet(ctx, store.KeyClientJobs, "alice").Val(); n != "1" {
		t.Fatalf("alice counts %q jobs after a deletion, want 1", n)
	}
	if err := s.CreateJobWithin(ctx, newJob("a3"), alice); err != nil {
		t.Fatalf("after a deletion: %v", err)
	}
	s.Enqueue(ctx, "q1")
	s.Enqueue(ctx, "q2")
	err := s.CreateJobWithin(ctx, newJob("b2"), bob)
	if le := (*store.LimitError)(nil); !errors.As(err, &le) || le.Limit != store.LimitQueue || le.Max != 2 {
		t.Fatalf("with a full queue: %v, want the queue limit", err)
	}
	if err := s.QueueRoom(ctx, 2); !errors.As(err, new(*store.LimitError)) {
		t.Fatalf("QueueRoom with a full queue: %v", err)
	}
	if err := s.QueueRoom(ctx, 3); err != nil {
		t.Fatalf("QueueRoom with room: %v", err)
	}
}
