package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/testfeed"
)

// TestRedisOutageCutsNoStream: Redis is killed for 30 s while two jobs
// stream, then restarted on its append-only file. No job is re-placed, no
// publisher is disconnected, and the segments of those 30 s are at the
// origin (issue 17, F1). The scheduler's heartbeat timeout is 4 s here.
func TestRedisOutageCutsNoStream(t *testing.T) {
	t.Parallel()
	s := startSystemOn(t, redistest.StartPersistent(t), []string{"-queue", "redis"}, nil)
	feeds := testfeed.New("ffmpeg", feedSize, nil)
	t.Cleanup(feeds.Close)
	var jobs []*jobspec.LiveJob
	for range 2 {
		job := createSample(t, s)
		s.waitState(job.Id, jobspec.StateRunning, 60*time.Second)
		if err := feeds.Start(context.Background(), s.job(job.Id)); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, s.waitState(job.Id, jobspec.StateStreaming, 60*time.Second))
	}
	for _, job := range jobs {
		// The origin keeps taking tokens it has allowed before: segments
		// must have gone through before the outage.
		s.waitFor(60*time.Second, "two segments of every rendition at the origin", func() (bool, string) {
			return s.segmentsPerRendition(job.Id, 2)
		})
	}

	s.redis.Stop()
	down := time.Now()
	time.Sleep(30 * time.Second)
	s.redis.Restart(t)
	up := time.Now()
	time.Sleep(12 * time.Second) // three heartbeat timeouts with Redis back

	for _, before := range jobs {
		after := s.job(before.Id)
		if after.Placement_generation != before.Placement_generation || after.Placement_attempts != 0 || after.State != jobspec.StateStreaming {
			t.Errorf("job %s: generation %d→%d, attempts %d, %s (%s): want the same placement, streaming",
				before.Id, before.Placement_generation, after.Placement_generation, after.Placement_attempts, after.State, after.State_reason)
		}
		if !feeds.Running(before.Id) {
			t.Errorf("job %s: its publisher was disconnected", before.Id)
		}
		if !after.Input_lost_since.IsZero() {
			t.Errorf("job %s: input lost since %v", before.Id, after.Input_lost_since)
		}
		if n := segmentsWritten(t, s.originRoot, before.Id, down, up); n < 10 {
			t.Errorf("job %s: %d segments reached the origin during the 30 s outage, want every 4 s segment of both renditions and audio", before.Id, n)
		}
	}
}

// segmentsWritten counts the job's media segments at the origin written
// between from and to.
func segmentsWritten(t *testing.T, root, id string, from, to time.Time) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, id, "chunk-*.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		fi, err := os.Stat(f)
		if err == nil && fi.ModTime().After(from) && fi.ModTime().Before(to) {
			n++
		}
	}
	return n
}
