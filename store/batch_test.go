package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// ReservePlacements takes each share that still fits its node, in order,
// counts a job's own earlier share there as free, and takes the jobs it
// placed out of queued_jobs.
func TestReservePlacementsRecheckCapacity(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		s.Enqueue(ctx, id)
	}
	if err := s.Reserve(ctx, "n1", "other", 1); err != nil {
		t.Fatal(err)
	}
	took, err := s.ReservePlacements(ctx, []store.Reservation{
		{Node: "n1", JobID: "a", CPU: 0.5, Capacity: 2},
		{Node: "n1", JobID: "b", CPU: 0.75, Capacity: 2}, // 1.5 taken: no room
		{Node: "n1", JobID: "c", CPU: 0.5, Capacity: 2},  // exactly full
		{Node: "n2", JobID: "b", CPU: 0.75, Capacity: 1},
		{Node: "n1", JobID: "a", CPU: 0.5, Capacity: 2}, // again: its own share is free
	})
	if err != nil || fmt.Sprint(took) != "[true false true true true]" {
		t.Fatalf("took %v, %v", took, err)
	}
	if cpu, _ := s.CPULoads(ctx); cpu["n1"] != 2 || cpu["n2"] != 0.75 {
		t.Fatalf("cpu %v", cpu)
	}
	if ids, _ := s.QueuedJobs(ctx); len(ids) != 0 {
		t.Fatalf("placed jobs still queued: %v", ids)
	}
}

// UpdateJobsFrom writes each job's update; a copy that is stale is
// updated from the stored record, and an update's own error is returned.
func TestUpdateJobsFrom(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	var known []*jobspec.LiveJob
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateJob(ctx, newJob(id)); err != nil {
			t.Fatal(err)
		}
		j, _ := s.Job(ctx, id)
		known = append(known, j)
	}
	if _, err := s.UpdateJob(ctx, "b", func(j *jobspec.LiveJob) error { j.Placement_attempts = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	place := func(j *jobspec.LiveJob) error { j.Assigned_worker_id = "n1"; return nil }
	jobs, errs := s.UpdateJobsFrom(ctx, []store.JobUpdate{
		{Known: known[0], Fn: place},
		{Known: known[1], Fn: place}, // stale copy
		{Known: known[2], Fn: func(*jobspec.LiveJob) error { return refused }},
	})
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], refused) || jobs[0].Assigned_worker_id != "n1" {
		t.Fatalf("jobs %v, errs %v", jobs, errs)
	}
	if b, _ := s.Job(ctx, "b"); b.Assigned_worker_id != "n1" || b.Placement_attempts != 7 {
		t.Fatalf("stale copy's update lost the stored change: %+v", b)
	}
	if c, _ := s.Job(ctx, "c"); c.Assigned_worker_id != "" {
		t.Fatalf("a refused update was written: %+v", c)
	}
}
