package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

func newStore(t *testing.T) (*store.Store, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	return store.New(srv.Client(t)), srv
}

func newJob(id string) *jobspec.LiveJob {
	return &jobspec.LiveJob{Id: id, StreamKey: "key-" + id, State: jobspec.StateCreated}
}

func TestCreateGetDelete(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.CreateJob(ctx, newJob("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, newJob("a")); jobspec.ErrorCode(err) != jobspec.ECONFLICT {
		t.Fatalf("second create: got %v, want conflict", err)
	}
	got, err := s.Job(ctx, "a")
	if err != nil || got.StreamKey != "key-a" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if byKey, err := s.JobByStreamKey(ctx, "key-a"); err != nil || byKey.Id != "a" {
		t.Fatalf("by stream key: %+v %v", byKey, err)
	}
	if err := s.DeleteJob(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Job(ctx, "a"); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
		t.Fatalf("after delete: %v, want not found", err)
	}
	if _, err := s.JobByStreamKey(ctx, "key-a"); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
		t.Fatalf("stream key survived delete: %v", err)
	}
	if err := s.DeleteJob(ctx, "a"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.CreateJob(ctx, newJob("j")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := s.UpdateJob(ctx, "j", func(j *jobspec.LiveJob) error {
					if j.Stats == nil {
						j.Stats = &jobspec.Stats{}
					}
					j.Stats.Frames++
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Job(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.Frames != writers*each {
		t.Fatalf("frames = %d, want %d: an update was lost", got.Stats.Frames, writers*each)
	}
}

// UpdateJobFrom starts from the caller's copy, but a copy that went stale
// loses nothing: the compare-and-swap refuses it and the update is applied
// to the record as it is now.
func TestUpdateJobFromAStaleCopy(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.CreateJob(ctx, newJob("j")); err != nil {
		t.Fatal(err)
	}
	copyOf, err := s.Job(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.UpdateJobFrom(ctx, copyOf, func(j *jobspec.LiveJob) error { j.Placement_generation = 1; return nil })
	if err != nil || fresh.Placement_generation != 1 {
		t.Fatalf("from a fresh copy: %+v %v", fresh, err)
	}
	if copyOf.Placement_generation != 0 {
		t.Error("the caller's copy was modified")
	}
	// copyOf is stale now: generation 1 is stored.
	got, err := s.UpdateJobFrom(ctx, copyOf, func(j *jobspec.LiveJob) error { j.Assigned_worker_id = "n1"; return nil })
	if err != nil || got.Placement_generation != 1 || got.Assigned_worker_id != "n1" {
		t.Fatalf("from a stale copy: %+v %v", got, err)
	}
	// A change the stale copy already has must still be checked against
	// the record: here the record has moved on and needs the write.
	stale := *copyOf
	stale.Assigned_worker_id = "n1"
	got, err = s.UpdateJobFrom(ctx, &stale, func(j *jobspec.LiveJob) error { j.Assigned_worker_id = "n1"; return nil })
	if err != nil || got.Placement_generation != 1 {
		t.Fatalf("no-op from a stale copy returned %+v %v, want the stored record", got, err)
	}
	if stored, _ := s.Job(ctx, "j"); stored.Placement_generation != 1 || stored.Assigned_worker_id != "n1" {
		t.Errorf("stored %+v", stored)
	}
}

// TryLockJobs takes the jobs' locks and reads the jobs in one step; a
// second owner gets neither.
func TestTryLockJobs(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.CreateJob(ctx, newJob("j")); err != nil {
		t.Fatal(err)
	}
	lock := func(owner string, ids ...string) []store.LockedJob {
		t.Helper()
		got, err := s.TryLockJobs(ctx, ids, owner, time.Minute)
		if err != nil || len(got) != len(ids) {
			t.Fatalf("%s: %+v %v", owner, got, err)
		}
		return got
	}
	if got := lock("s1", "j", "missing"); !got[0].Locked || got[0].Err != nil || got[0].Job.StreamKey != "key-j" ||
		!got[1].Locked || got[1].Job != nil || jobspec.ErrorCode(got[1].Err) != jobspec.ENOTFOUND {
		t.Fatalf("first owner: %+v", got)
	}
	if got := lock("s2", "j"); got[0].Locked || got[0].Job != nil || got[0].Err != nil {
		t.Fatalf("second owner: %+v", got)
	}
	if lost, err := s.ExtendLocks(ctx, []string{store.JobLock("j"), store.JobLock("other")}, "s1", time.Minute); err != nil || fmt.Sprint(lost) != "[job:other]" {
		t.Fatalf("extend: lost %v, %v", lost, err)
	}
	if err := s.UnlockAll(ctx, []string{store.JobLock("j"), store.JobLock("missing")}, "s1"); err != nil {
		t.Fatal(err)
	}
	if got := lock("s2", "j"); !got[0].Locked {
		t.Fatalf("after unlock: %+v", got)
	}
}

// StartPlacements rotates the upload tokens and reads the reserved cores.
func TestStartPlacements(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.SetUploadToken(ctx, "j", "old"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, "n1", "other", 1.5); err != nil {
		t.Fatal(err)
	}
	cpu, err := s.StartPlacements(ctx, map[string]string{"j": "new"})
	if err != nil || len(cpu) != 1 || cpu["n1"] != 1.5 {
		t.Fatalf("cpu %v, err %v", cpu, err)
	}
	if err := s.AuthorizeUpload(ctx, "j", "old"); err == nil {
		t.Error("the old token still writes")
	}
	if err := s.AuthorizeUpload(ctx, "j", "new"); err != nil {
		t.Errorf("the new token: %v", err)
	}
}

func TestUpdateMovesStreamKeyIndex(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	s.CreateJob(ctx, newJob("r"))
	_, err := s.UpdateJob(ctx, "r", func(j *jobspec.LiveJob) error { j.StreamKey = "new"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobByStreamKey(ctx, "key-r"); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
		t.Fatalf("old key still works: %v", err)
	}
	if j, err := s.JobByStreamKey(ctx, "new"); err != nil || j.Id != "r" {
		t.Fatalf("new key: %v %v", j, err)
	}
}

func TestListJobsPaginatesAndFilters(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	for i := range 25 {
		j := newJob(fmt.Sprintf("job%02d", i))
		if i%5 == 0 {
			j.State = jobspec.StateStopped
		}
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		jobs, next, err := s.ListJobs(ctx, store.ListOptions{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			seen = append(seen, j.Id)
		}
		if next == "" {
			if pages != 2 {
				t.Fatalf("pages = %d, want 3", pages+1)
			}
			break
		}
		cursor = next
	}
	if len(seen) != 25 || seen[0] != "job00" || seen[24] != "job24" {
		t.Fatalf("seen %v", seen)
	}
	stopped, next, err := s.ListJobs(ctx, store.ListOptions{States: []jobspec.State{jobspec.StateStopped}, Limit: 3})
	if err != nil || len(stopped) != 3 || next == "" {
		t.Fatalf("filtered page: %d jobs, next %q, %v", len(stopped), next, err)
	}
	for _, j := range stopped {
		if j.State != jobspec.StateStopped {
			t.Fatalf("filter let %s (%s) through", j.Id, j.State)
		}
	}
	rest, next, err := s.ListJobs(ctx, store.ListOptions{States: []jobspec.State{jobspec.StateStopped}, Limit: 3, Cursor: next})
	if err != nil || len(rest) != 2 || next != "" {
		t.Fatalf("last filtered page: %d jobs, next %q, %v", len(rest), next, err)
	}
}

func TestLoadsAreIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	for range 2 {
		if err := s.Reserve(ctx, "n1", "a", 0.5); err != nil {
			t.Fatal(err)
		}
	}
	s.Reserve(ctx, "n1", "b", 0.25)
	loads, err := s.Loads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := loads["n1"].CPU; got != 0.75 {
		t.Fatalf("cpu = %v, want 0.75", got)
	}
	if cpu, err := s.CPULoads(ctx); err != nil || cpu["n1"] != 0.75 {
		t.Fatalf("worker_cpu = %v %v, want n1: 0.75", cpu, err)
	}
	s.Release(ctx, "n1", "a")
	s.Release(ctx, "n1", "a")
	s.Release(ctx, "n1", "b")
	loads, _ = s.Loads(ctx)
	if _, ok := loads["n1"]; ok {
		t.Fatalf("empty node kept: %+v", loads)
	}
	if cpu, _ := s.CPULoads(ctx); len(cpu) != 0 {
		t.Fatalf("worker_cpu keeps an empty node: %v", cpu)
	}
}

func TestQueuedJobsOnce(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	s.Enqueue(ctx, "a")
	s.Enqueue(ctx, "b")
	s.Enqueue(ctx, "a")
	ids, err := s.QueuedJobs(ctx)
	if err != nil || fmt.Sprint(ids) != "[a b]" {
		t.Fatalf("queued %v %v", ids, err)
	}
	s.Dequeue(ctx, "a")
	if ids, _ := s.QueuedJobs(ctx); fmt.Sprint(ids) != "[b]" {
		t.Fatalf("after dequeue %v", ids)
	}
	if _, err := s.ReservePlacements(ctx, []store.Reservation{{Node: "n1", JobID: "b", CPU: 0.5, Capacity: 1}}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.QueuedJobs(ctx); len(ids) != 0 {
		t.Fatalf("placed job still queued: %v", ids)
	}
	if cpu, _ := s.CPULoads(ctx); cpu["n1"] != 0.5 {
		t.Fatalf("placed job's load not reserved: %v", cpu)
	}
}

func TestLocksExcludeAndExpire(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if ok, _ := s.TryLock(ctx, "job:a", "one", time.Minute); !ok {
		t.Fatal("first lock refused")
	}
	if ok, _ := s.TryLock(ctx, "job:a", "two", time.Minute); ok {
		t.Fatal("second owner got a held lock")
	}
	if ok, _ := s.ExtendLock(ctx, "job:a", "two", time.Minute); ok {
		t.Fatal("non-owner extended the lock")
	}
	s.Unlock(ctx, "job:a", "two") // not the owner: no effect
	if ok, _ := s.TryLock(ctx, "job:a", "two", time.Minute); ok {
		t.Fatal("non-owner unlock released the lock")
	}
	s.Unlock(ctx, "job:a", "one")
	if ok, _ := s.TryLock(ctx, "job:a", "two", 50*time.Millisecond); !ok {
		t.Fatal("released lock refused")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _ := s.TryLock(ctx, "job:a", "three", time.Minute); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lock never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHeartbeatFencesStaleGeneration(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	j := newJob("h")
	j.State = jobspec.StateScheduled
	j.Placement_generation = 2
	s.CreateJob(ctx, j)
	now := time.Now()
	hb := store.HeartbeatReport{JobID: "h", Generation: 2, IngestAddr: "127.0.0.1:9000", Time: now}
	ack, err := s.RecordHeartbeat(ctx, hb)
	if err != nil || ack != (store.HeartbeatAck{StreamKey: "key-h", State: jobspec.StateRunning}) {
		t.Fatalf("listening heartbeat: %+v %v", ack, err)
	}
	if got, _ := s.Job(ctx, "h"); got.State != jobspec.StateRunning || got.RtmpIngestUrl != "rtmp://127.0.0.1:9000/live/key-h" {
		t.Fatalf("after the listening heartbeat: %+v", got)
	}
	hb.Streaming = true
	if got, _ := s.RecordHeartbeat(ctx, hb); got.State != jobspec.StateStreaming {
		t.Fatalf("streaming heartbeat left state %s", got.State)
	}
	if last, _ := s.LastHeartbeat(ctx, "h"); last.UnixMilli() != now.UnixMilli() {
		t.Errorf("last heartbeat %v, want %v", last, now)
	}
	hb.Generation, hb.Time = 1, now.Add(time.Minute)
	if _, err := s.RecordHeartbeat(ctx, hb); err != store.ErrFenced {
		t.Fatalf("stale generation: %v, want ErrFenced", err)
	}
	if last, _ := s.LastHeartbeat(ctx, "h"); last.UnixMilli() != now.UnixMilli() {
		t.Errorf("a fenced heartbeat was recorded: last %v", last)
	}
	stale, err := s.StaleHeartbeats(ctx, now.Add(time.Second))
	if err != nil || fmt.Sprint(stale) != "[h]" {
		t.Fatalf("stale heartbeats %v %v", stale, err)
	}
}

func TestPlacedJob(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	for _, tt := range []struct {
		id         string
		state      jobspec.State
		generation int64 // asked for; the job is at generation 2
		wantFenced bool
	}{
		{"current", jobspec.StateScheduled, 2, false},
		{"streaming", jobspec.StateStreaming, 2, false},
		{"superseded", jobspec.StateScheduled, 1, true},
		{"stopped", jobspec.StateStopped, 2, true},
	} {
		j := newJob(tt.id)
		j.State, j.Placement_generation = tt.state, 2
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		got, err := s.PlacedJob(ctx, tt.id, tt.generation)
		if tt.wantFenced && (err != store.ErrFenced || got != nil) {
			t.Errorf("%s: %+v %v, want ErrFenced", tt.id, got, err)
		}
		if !tt.wantFenced && (err != nil || got.Id != tt.id) {
			t.Errorf("%s: %+v %v, want the job", tt.id, got, err)
		}
	}
	if _, err := s.PlacedJob(ctx, "missing", 1); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
		t.Errorf("missing job: %v, want not found", err)
	}
}

func TestUploadTokenFence(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if err := s.AuthorizeUpload(ctx, "u", "x"); err == nil {
		t.Fatal("upload allowed with no token set")
	}
	s.SetUploadToken(ctx, "u", "gen1")
	if err := s.AuthorizeUpload(ctx, "u", "gen1"); err != nil {
		t.Fatal(err)
	}
	s.SetUploadToken(ctx, "u", "gen2")
	if err := s.AuthorizeUpload(ctx, "u", "gen1"); err == nil {
		t.Fatal("stale token accepted")
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	srv.Stop()
	_, err := s.Job(context.Background(), "x")
	if jobspec.ErrorCode(err) != jobspec.EUNAVAILABLE {
		t.Fatalf("got %v, want unavailable", err)
	}
	if err := s.Ping(context.Background()); jobspec.ErrorCode(err) != jobspec.EUNAVAILABLE {
		t.Fatalf("ping: %v", err)
	}
}

// TestHeartbeatInputLoss: heartbeats carry the transcoder's input loss into
// the record, and its start and end into the history and job_events, with
// the state unchanged.
func TestHeartbeatInputLoss(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	createPlaced(t, s, "il", 1)
	t0 := time.Now().Truncate(time.Millisecond)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name      string
		streaming bool
		lostSince time.Time
		want      string // the events this heartbeat adds to job_events: type/to@seconds
	}{
		{"first heartbeat, no publisher yet", false, time.Time{}, "[/running@0]"},
		{"media flowing", true, time.Time{}, "[/streaming@1]"},
		{"input lost, output on the slate", true, at(1), "[input_lost/streaming@1]"},
		{"still lost", true, at(1), "[]"},
		{"window passed: listening again, still lost", false, at(1), "[/running@4]"},
		{"publisher back", true, time.Time{}, "[input_restored/running@5 /streaming@5]"},
	}
	for i, tt := range tests {
		after, err := s.LatestEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.RecordHeartbeat(ctx, store.HeartbeatReport{JobID: "il", Generation: 1,
			Streaming: tt.streaming, InputLostSince: tt.lostSince, Time: at(i)})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		stored, err := s.Job(ctx, "il")
		if err != nil || !stored.Input_lost_since.Equal(tt.lostSince) {
			t.Errorf("%s: stored Input_lost_since %v (%v), want %v", tt.name, stored.Input_lost_since, err, tt.lostSince)
		}
		events, published := publishedAfter(t, s, after, t0)
		if published != tt.want {
			t.Errorf("%s: published %v, want %s", tt.name, published, tt.want)
		}
		for k, kept := range stored.Events[len(stored.Events)-len(events):] {
			pub := events[k].Event
			if !kept.Time.Equal(pub.Time) || kept.Type != pub.Type || kept.To != pub.To || kept.Reason != pub.Reason {
				t.Errorf("%s: the record keeps %+v, job_events has %+v", tt.name, kept, pub)
			}
		}
	}
}

func TestStateChangesArePublished(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	j := newJob("e")
	j.SetState(jobspec.StateCreated, "created by test", time.Now())
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	s.UpdateJob(ctx, "e", func(j *jobspec.LiveJob) error { j.Stats = &jobspec.Stats{Fps: 25}; return nil }) // no state change
	s.UpdateJob(ctx, "e", func(j *jobspec.LiveJob) error {
		j.SetState(jobspec.StateScheduled, "placed", time.Now())
		j.SetState(jobspec.StateRunning, "listening", time.Now())
		return nil
	})
	events, err := s.JobEvents(ctx, "0", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		if ev.JobID != "e" {
			t.Fatalf("event for %q", ev.JobID)
		}
		got = append(got, string(ev.To)+":"+ev.Reason)
	}
	if want := "[created:created by test scheduled:placed running:listening]"; fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	latest, _ := s.LatestEventID(ctx)
	if latest != events[2].ID {
		t.Fatalf("latest %s, want %s", latest, events[2].ID)
	}
	// At the history's cap, a new state change is still published once.
	s.UpdateJob(ctx, "e", func(j *jobspec.LiveJob) error {
		for i := range jobspec.MaxEvents {
			j.SetState(jobspec.StateRunning, fmt.Sprint("filler ", i), time.Now())
		}
		return nil
	})
	after, _ := s.LatestEventID(ctx)
	s.UpdateJob(ctx, "e", func(j *jobspec.LiveJob) error {
		j.SetState(jobspec.StateStreaming, "media", time.Now())
		return nil
	})
	capped, err := s.JobEvents(ctx, after, 100, 0)
	if err != nil || len(capped) != 1 || capped[0].To != jobspec.StateStreaming {
		t.Fatalf("events after the cap: %+v %v", capped, err)
	}
}

// TestDeletionsAndKeepOutputs: what the origin asks before it removes a
// job's outputs, and the feed of deletions it follows.
func TestDeletionsAndKeepOutputs(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		j := newJob(id)
		j.SetState(jobspec.StateStopped, "stopped by test", time.Now())
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	ids, from, err := s.Deletions(ctx, "", time.Second)
	if err != nil || len(ids) != 0 || from == "" || from == "0" {
		t.Fatalf("start: %v %q %v, want no ids and the newest position", ids, from, err)
	}
	for _, id := range []string{"a", "b"} {
		s.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error {
			j.SetState(jobspec.StateCreated, "resumed by test", time.Now())
			return nil
		})
	}
	s.UpdateJob(ctx, "a", func(j *jobspec.LiveJob) error {
		j.SetState(jobspec.StateDeleting, "deleted by test", time.Now())
		return nil
	})
	ids, next, err := s.Deletions(ctx, from, time.Second)
	if err != nil || fmt.Sprint(ids) != "[a]" || next == from {
		t.Fatalf("deletions %v, next %q (from %q), %v; want [a]", ids, next, from, err)
	}
	if err := s.DeleteJob(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"a": false, "b": true, "never": false} {
		if keep, err := s.KeepOutputs(ctx, id); err != nil || keep != want {
			t.Errorf("KeepOutputs(%s) = %v, %v; want %v", id, keep, err, want)
		}
	}
	// An empty Redis (flushed, or not the platform's) proves nothing: with
	// no job at all, "no record" removes nothing.
	if err := s.DeleteJob(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if keep, err := s.KeepOutputs(ctx, "never"); !errors.Is(err, store.ErrNoJobsAtAll) {
		t.Errorf("KeepOutputs with no job at all = %v, %v; want ErrNoJobsAtAll", keep, err)
	}
	if keep, err := s.KeepOutputs(ctx, "b"); err != nil || keep {
		t.Errorf("KeepOutputs of the last job, deleted = %v, %v; want false: its deletion is on record", keep, err)
	}
	srv.Stop()
	if keep, err := s.KeepOutputs(ctx, "a"); err == nil || keep {
		t.Errorf("KeepOutputs with Redis down = %v, %v; want an error", keep, err)
	}
	if _, at, err := s.Deletions(ctx, next, 0); err == nil || at != next {
		t.Errorf("Deletions with Redis down: position %q, %v; want an error and %q", at, err, next)
	}
}

// TestTakeOverLock: a lock passes to owner only from an earlier life of the
// same holder (its name starts with identity, not with life).
func TestTakeOverLock(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	const identity, life = "host|0.0.0.0:1935/", "host|0.0.0.0:1935/200-b/"
	for _, tc := range []struct {
		holder string
		want   bool
	}{
		{"host|0.0.0.0:1935/100-a/3", true},    // a crashed predecessor
		{"host|0.0.0.0:1935/200-b/1", false},   // this very process
		{"other|0.0.0.0:1935/100-a/3", false},  // another gateway
		{"host|127.0.0.1:1935/100-a/3", false}, // another listener of this host
	} {
		name := "publish:" + tc.holder
		if ok, err := s.TryLock(ctx, name, tc.holder, time.Minute); !ok || err != nil {
			t.Fatalf("seed %s: %v %v", name, ok, err)
		}
		got, err := s.TakeOverLock(ctx, name, identity, life, life+"9", time.Minute)
		if err != nil || got != tc.want {
			t.Errorf("take over from %s = %v, %v; want %v", tc.holder, got, err, tc.want)
		}
		if ok, _ := s.ExtendLock(ctx, name, life+"9", time.Minute); ok != tc.want {
			t.Errorf("after taking over from %s the new owner holds it: %v", tc.holder, ok)
		}
	}
	if got, err := s.TakeOverLock(ctx, "publish:free", identity, life, life+"9", time.Minute); got || err != nil {
		t.Errorf("take over of a free lock = %v, %v; want false (TryLock takes free ones)", got, err)
	}
}

// createPlaced stores a job scheduled for placement generation gen.
func createPlaced(t *testing.T, s *store.Store, id string, gen int64) {
	t.Helper()
	j := newJob(id)
	j.State, j.Placement_generation = jobspec.StateScheduled, gen
	if err := s.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
}

// publishedAfter returns the events in job_events after position after,
// and a summary of them, "[type/to@seconds since t0 ...]". An input or
// output event that changes the state fails the test.
func publishedAfter(t *testing.T, s *store.Store, after string, t0 time.Time) ([]store.JobEvent, string) {
	t.Helper()
	events, err := s.JobEvents(context.Background(), after, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, ev := range events {
		published = append(published, fmt.Sprintf("%s/%s@%d", ev.Type, ev.To, ev.Time.Sub(t0)/time.Second))
		if !ev.StateChange() && ev.From != ev.To {
			t.Errorf("event %+v changes the state", ev.Event)
		}
	}
	return events, fmt.Sprint(published)
}
