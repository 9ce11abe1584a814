package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
	"github.com/redis/go-redis/v9"
)

// commandCounter counts the commands a client sends (a pipeline's each).
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestStatsOnlyHeartbeat: a heartbeat that changes only the stats is one
// command and leaves the record's bytes as they are; the stats and the
// time show in Job and ListJobs. One that changes the state still updates
// the record and publishes the change.
func TestStatsOnlyHeartbeat(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb, counted := srv.Client(t), &commandCounter{}
	rdb.AddHook(counted)
	s := store.New(rdb)
	ctx := context.Background()
	createPlaced(t, s, "so", 1)
	t0 := time.Now().Truncate(time.Millisecond)
	hb := store.HeartbeatReport{JobID: "so", Generation: 1, Streaming: true, IngestAddr: "127.0.0.1:1935", Time: t0}
	after, _ := s.LatestEventID(ctx)
	if ack, err := s.RecordHeartbeat(ctx, hb); err != nil || ack != (store.HeartbeatAck{StreamKey: "key-so", State: jobspec.StateStreaming}) {
		t.Fatalf("first heartbeat: %+v %v", ack, err)
	}
	if _, published := publishedAfter(t, s, after, t0); published != "[/streaming@0]" {
		t.Errorf("first heartbeat published %s, want the change to streaming", published)
	}
	before := rawRecord(t, srv, "so")
	for i := 1; i <= 3; i++ {
		hb.Time, hb.Stats = t0.Add(time.Duration(i)*time.Second), jobspec.Stats{Fps: 25, Frames: int64(25 * i)}
		n := counted.n.Load()
		ack, err := s.RecordHeartbeat(ctx, hb)
		if err != nil || ack != (store.HeartbeatAck{StreamKey: "key-so", State: jobspec.StateStreaming}) {
			t.Fatalf("heartbeat %d: %+v %v", i, ack, err)
		}
		if sent := counted.n.Load() - n; sent != 1 {
			t.Errorf("heartbeat %d sent %d commands, want 1", i, sent)
		}
		if got := rawRecord(t, srv, "so"); got != before {
			t.Fatalf("heartbeat %d rewrote the record:\n%s\nwas\n%s", i, got, before)
		}
	}
	got, err := s.Job(ctx, "so")
	if err != nil || got.Stats == nil || got.Stats.Frames != 75 || !got.Time_last_heartbeat.Equal(hb.Time) || got.State != jobspec.StateStreaming {
		t.Fatalf("Job: %+v %v, want 75 frames at %v", got, err, hb.Time)
	}
	listed, _, err := s.ListJobs(ctx, store.ListOptions{})
	if err != nil || len(listed) != 1 || listed[0].Stats == nil || listed[0].Stats.Frames != 75 || !listed[0].Time_last_heartbeat.Equal(hb.Time) {
		t.Fatalf("ListJobs: %+v %v", listed, err)
	}
	if _, published := publishedAfter(t, s, after, t0); published != "[/streaming@0]" {
		t.Errorf("stats-only heartbeats published %s", published)
	}
	hb.Streaming, hb.Time = false, t0.Add(4*time.Second)
	if ack, err := s.RecordHeartbeat(ctx, hb); err != nil || ack.State != jobspec.StateRunning {
		t.Fatalf("listening again: %+v %v", ack, err)
	}
	if rawRecord(t, srv, "so") == before {
		t.Error("a change of state left the record as it was")
	}
	if _, published := publishedAfter(t, s, after, t0); published != "[/streaming@0 /running@4]" {
		t.Errorf("published %s, want the change back to running", published)
	}
}

// TestHeartbeatFences: a heartbeat of a placement that is no longer
// current, of a job that should not run or that is gone is refused, and
// records nothing.
func TestHeartbeatFences(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	for _, tt := range []struct {
		name   string
		change func(id string) error // after a first heartbeat of generation 1
	}{
		{"stale generation", func(id string) error {
			_, err := s.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error { j.Placement_generation = 2; return nil })
			return err
		}},
		{"stopped", func(id string) error {
			_, err := s.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error {
				j.SetState(jobspec.StateStopped, "stopped by test", t0)
				return nil
			})
			return err
		}},
		{"deleted", func(id string) error { return s.DeleteJob(ctx, id) }},
	} {
		id := "f-" + tt.name
		createPlaced(t, s, id, 1)
		hb := store.HeartbeatReport{JobID: id, Generation: 1, Streaming: true, IngestAddr: "127.0.0.1:1935", Time: t0}
		if _, err := s.RecordHeartbeat(ctx, hb); err != nil {
			t.Fatalf("%s: first heartbeat: %v", tt.name, err)
		}
		if err := tt.change(id); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		liveBefore := srv.Client(t).HGet(ctx, store.KeyJobLive, id).Val()
		hb.Time = t0.Add(time.Second)
		if _, err := s.RecordHeartbeat(ctx, hb); !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s: %v, want ErrFenced", tt.name, err)
		}
		if last, _ := s.LastHeartbeat(ctx, id); last.After(t0) {
			t.Errorf("%s: the fenced heartbeat was recorded at %v", tt.name, last)
		}
		if live := srv.Client(t).HGet(ctx, store.KeyJobLive, id).Val(); live != liveBefore {
			t.Errorf("%s: the fenced heartbeat wrote its stats: %s", tt.name, live)
		}
	}
}

// TestDeleteLeavesNoKey: after DeleteJob no key holds the job, but for its
// deletion on record (deleted_jobs) and the events published (job_events).
func TestDeleteLeavesNoKey(t *testing.T) {
	t.Parallel()
	s, srv := newStore(t)
	ctx := context.Background()
	createPlaced(t, s, "gone", 1)
	now := time.Now()
	if _, err := s.RecordHeartbeat(ctx, store.HeartbeatReport{JobID: "gone", Generation: 1, IngestAddr: "127.0.0.1:1", Time: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUploadToken(ctx, "gone", "tok"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteJob(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	rdb := srv.Client(t)
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if key == store.KeyDeletedJobs || key == store.KeyJobEvents || key == store.KeyJobsVersion { // a count, of no job
			continue
		}
		if holds(t, rdb, key, "gone", "key-gone") {
			t.Errorf("%s still holds the deleted job", key)
		}
	}
}

// holds reports whether key holds id, or stream key sk, as a member or
// field.
func holds(t *testing.T, rdb *redis.Client, key, id, sk string) bool {
	ctx := context.Background()
	switch typ := rdb.Type(ctx, key).Val(); typ {
	case "hash":
		return rdb.HExists(ctx, key, id).Val() || rdb.HExists(ctx, key, sk).Val()
	case "zset":
		return rdb.ZScore(ctx, key, id).Err() == nil
	case "list":
		return rdb.LPos(ctx, key, id, redis.LPosArgs{}).Err() == nil
	default:
		return true // a key of the job itself, or one this test does not know
	}
}

func rawRecord(t *testing.T, srv *redistest.Server, id string) string {
	t.Helper()
	raw, err := srv.Client(t).HGet(context.Background(), store.KeyJobs, id).Result()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestHeartbeatCarriesRotatedStreamKey: a stats-only heartbeat answers with
// the job's current stream key, so a rotation reaches the transcoder.
func TestHeartbeatCarriesRotatedStreamKey(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	createPlaced(t, s, "rk", 1)
	hb := store.HeartbeatReport{JobID: "rk", Generation: 1, Streaming: true, IngestAddr: "127.0.0.1:1935", Time: time.Now()}
	if ack, err := s.RecordHeartbeat(ctx, hb); err != nil || ack.StreamKey != "key-rk" {
		t.Fatalf("first heartbeat: %+v %v", ack, err)
	}
	if _, err := s.UpdateJob(ctx, "rk", func(j *jobspec.LiveJob) error { j.SetStreamKey("rotated", ""); return nil }); err != nil {
		t.Fatal(err)
	}
	hb.Time = hb.Time.Add(time.Second)
	if ack, err := s.RecordHeartbeat(ctx, hb); err != nil || ack != (store.HeartbeatAck{StreamKey: "rotated", State: jobspec.StateStreaming}) {
		t.Fatalf("after the rotation: %+v %v, want the new key", ack, err)
	}
}
