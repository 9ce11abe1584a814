package cli

import (
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
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
