package cli

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// A transcoder restarted in place numbers its runs after the last one its
// job's record knows, so it never writes a segment name again.
func TestFirstPeriodFollowsTheRecord(t *testing.T) {
	for _, c := range []struct {
		name string
		job  jobspec.LiveJob
		want int
	}{
		{"new placement", jobspec.LiveJob{}, 0},
		{"restart after the first run", jobspec.LiveJob{Stats: &jobspec.Stats{}, Time_last_heartbeat: time.Now()}, 1},
		{"restart after period 4", jobspec.LiveJob{Stats: &jobspec.Stats{Restarts: 4}, Time_last_heartbeat: time.Now()}, 5},
	} {
		if got := firstPeriod(&c.job); got != c.want {
			t.Errorf("%s: first period %d, want %d", c.name, got, c.want)
		}
	}
}

// A transcoder restarted in place takes over the input loss: the record's,
// or one from now when the crash cut a streaming publisher; it does not
// report the input restored before a publisher is back.
func TestRestartedTranscoderTakesOverTheLoss(t *testing.T) {
	now := time.Now()
	lost := now.Add(-time.Minute)
	for _, c := range []struct {
		name string
		job  jobspec.LiveJob
		want time.Time
	}{
		{"new placement", jobspec.LiveJob{State: jobspec.StateScheduled}, time.Time{}},
		{"was streaming", jobspec.LiveJob{State: jobspec.StateStreaming}, now},
		{"was on its slate", jobspec.LiveJob{State: jobspec.StateStreaming, Input_lost_since: lost}, lost},
		{"waited for its publisher", jobspec.LiveJob{State: jobspec.StateRunning, Input_lost_since: lost}, lost},
	} {
		if got := inputLostSince(&c.job, now); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The transcoder's config carries over what a restart in place needs from
// the job's record: the next period and the input loss.
func TestConfigOfARestartedTranscoder(t *testing.T) {
	t.Parallel()
	st := store.New(redistest.Start(t).Client(t))
	ctx := context.Background()
	lost := time.Now().Add(-time.Minute).UTC().Round(time.Millisecond)
	j := &jobspec.LiveJob{Id: "restarted-job", StreamKey: "key-restarted", Placement_generation: 3,
		Stats: &jobspec.Stats{Restarts: 4}, Time_last_heartbeat: time.Now(), Input_lost_since: lost}
	j.SetState(jobspec.StateStreaming, "media is flowing", time.Now())
	j.Input_lost_since = lost
	j.Output_failing_since, j.Output_error = lost, "PUT index.m3u8: origin answered 500 Internal Server Error"
	if err := st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUploadToken(ctx, j.Id, "tok"); err != nil {
		t.Fatal(err)
	}
	fs, o := transcoderFlags()
	if err := fs.parse([]string{"-job", j.Id, "-generation", "3", "-listen", "127.0.0.1:1", "-allow-private-slate"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(ctx, st, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FirstPeriod != 5 || !cfg.InputLostSince.Equal(lost) || !cfg.AllowPrivateSlate {
		t.Errorf("config: first period %d, input lost since %v, private slate %v; want 5, %v, true",
			cfg.FirstPeriod, cfg.InputLostSince, cfg.AllowPrivateSlate, lost)
	}
	if !cfg.OutputFailingSince.Equal(lost) || cfg.OutputError != j.Output_error {
		t.Errorf("config: output failing since %v (%q), want the record's %v (%q)", cfg.OutputFailingSince, cfg.OutputError, lost, j.Output_error)
	}
}
