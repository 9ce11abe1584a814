package scheduler_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestOutputFailuresPastTheBoundFailTheJob: a streaming job whose
// transcoder reports its writes failing for longer than the bound fails,
// with the error in its reason, and its placement is torn down as any
// failed job's; within the bound, or with no bound, it streams on. The
// command path (ReconcileJob) and the sweep (Reconcile) both decide.
func TestOutputFailuresPastTheBoundFailTheJob(t *testing.T) {
	t.Parallel()
	const outputErr = "PUT index.m3u8: origin answered 500 Internal Server Error"
	tests := []struct {
		name    string
		bound   time.Duration
		failing time.Duration // how long ago the writes started failing; 0: they do not
		sweep   bool
		fails   bool
	}{
		{"past the bound", 2 * time.Second, 5 * time.Second, false, true},
		{"past the bound, found by the sweep", 2 * time.Second, 5 * time.Second, true, true},
		{"within the bound", time.Minute, 5 * time.Second, false, false},
		{"no bound", 0, time.Hour, true, false},
		{"not failing", 2 * time.Second, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 8}))
			s, err := scheduler.New(scheduler.Config{Store: f.store, Driver: f.driver, Instance: "s-out",
				Logger: slog.New(slog.DiscardHandler), OutputFailureTimeout: tt.bound})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			f.createJob(t, "j1")
			f.reconcile(t, "j1")
			hb := store.HeartbeatReport{JobID: "j1", Generation: f.job(t, "j1").Placement_generation, Streaming: true, Time: time.Now()}
			if tt.failing > 0 {
				hb.OutputFailingSince, hb.OutputError = time.Now().Add(-tt.failing), outputErr
			}
			if _, err := f.store.RecordHeartbeat(ctx, hb); err != nil {
				t.Fatal(err)
			}
			if tt.sweep {
				s.Reconcile(ctx)
			} else if err := s.ReconcileJob(ctx, "j1"); err != nil {
				t.Fatal(err)
			}
			j := f.job(t, "j1")
			if !tt.fails {
				if j.State != jobspec.StateStreaming {
					t.Fatalf("state %s (%s), want streaming on", j.State, j.State_reason)
				}
				return
			}
			if j.State != jobspec.StateFailed || !strings.HasPrefix(j.State_reason, "outputs failing for 5s") || !strings.HasSuffix(j.State_reason, outputErr) {
				t.Errorf("state %s (%q), want failed naming how long and the error", j.State, j.State_reason)
			}
			if !j.Output_failing_since.IsZero() || j.Output_error != "" {
				t.Errorf("a failed job keeps Output_failing_since %v (%q)", j.Output_failing_since, j.Output_error)
			}
			if _, ok := f.driver.Placement("j1"); ok {
				t.Error("the failed job is still placed")
			}
			if tok, _ := f.store.UploadToken(ctx, "j1"); tok != "" {
				t.Error("the failed job's upload token is still valid")
			}
			if l := f.load(t, "a"); len(l.Jobs) != 0 {
				t.Errorf("the failed job still holds load: %+v", l)
			}
		})
	}
}
