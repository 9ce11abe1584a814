package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestOriginRemovesDeletedJobsOutputs: in a split deployment the origin
// removes a deleted job's outputs by itself, with no scheduler running and
// no token shared with anyone: at start for a job deleted while it was
// down, and promptly for a job that goes to state deleting.
func TestOriginRemovesDeletedJobsOutputs(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	st := store.New(redis.Client(t))
	root := t.TempDir()
	live, leaving := stoppedJob(t, st, "live"), stoppedJob(t, st, "leaving")
	writeOutputs(t, root, "gone", time.Hour) // its record vanished while the origin was down
	writeOutputs(t, root, live, time.Hour)
	writeOutputs(t, root, leaving, 0) // too young for a sweep

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runOrigin(ctx, []string{"-redis", redis.Addr, "-root", root, "-listen", "127.0.0.1:0", "-log-level", "error"})
	}()
	testenv.WaitFor(t, 30*time.Second, "the sweep at start to remove the outputs of a job deleted while the origin was down", func() bool {
		return !exists(root, "gone")
	})
	// The API's DELETE puts the job in state deleting; nothing else runs.
	// The origin follows deletions from the time it started reading, so
	// the state change is said again until it has been seen.
	for i := 0; exists(root, leaving); i++ {
		if i == 1500 {
			t.Fatal("outputs of a deleting job still there after 30 s")
		}
		if i%50 == 0 {
			_, err := st.UpdateJob(ctx, leaving, func(j *jobspec.LiveJob) error {
				j.SetState(jobspec.StateDeleting, fmt.Sprint("delete requested by test ", i), time.Now())
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !exists(root, live) {
		t.Error("the outputs of a stopped job were removed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("origin: %v", err)
	}
}

// TestRedisOutageRemovesNothing: when Redis cannot answer, not even the
// outputs of jobs that have no record are removed.
func TestRedisOutageRemovesNothing(t *testing.T) {
	t.Parallel()
	redis := redistest.Start(t)
	st := store.New(redis.Client(t))
	root := t.TempDir()
	live := stoppedJob(t, st, "live")
	writeOutputs(t, root, live, time.Hour)
	writeOutputs(t, root, "gone", time.Hour)
	srv, err := origin.New(origin.Config{Root: root, Authorizer: uploadAuthorizer{st}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sweeper, err := srv.NewSweeper(origin.SweeperConfig{Retention: st})
	if err != nil {
		t.Fatal(err)
	}
	redis.Stop()
	removed, err := sweeper.Sweep(context.Background())
	if jobspec.ErrorCode(err) != jobspec.EUNAVAILABLE || removed != 0 {
		t.Errorf("sweep with Redis down: removed %d, %v; want 0 and Redis unavailable", removed, err)
	}
	for _, id := range []string{live, "gone"} {
		if !exists(root, id) {
			t.Errorf("outputs of %s removed while Redis was down", id)
		}
	}
}

// stoppedJob stores a stopped job and returns its id.
func stoppedJob(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	j := &jobspec.LiveJob{Id: name + "-job", StreamKey: "key-" + name}
	j.SetState(jobspec.StateStopped, "stopped by test", time.Now())
	if err := st.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j.Id
}

// writeOutputs leaves a segment of job id under root, as the origin stores
// it, the job's folder last written age ago.
func writeOutputs(t *testing.T, root, id string, age time.Duration) {
	t.Helper()
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(filepath.Join(dir, "v0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v0", "seg_1.m4s"), []byte("segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-age)
	if err := os.Chtimes(dir, then, then); err != nil {
		t.Fatal(err)
	}
}

func exists(root, id string) bool {
	_, err := os.Stat(filepath.Join(root, id))
	return err == nil
}
