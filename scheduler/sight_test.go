package scheduler

import (
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// A heartbeat is judged missing only over time the scheduler could see the
// store: after an outage every transcoder gets a whole timeout to report.
func TestOutageTimeDoesNotCountAgainstHeartbeats(t *testing.T) {
	now := time.Unix(10_000, 0)
	s := &Scheduler{cfg: Config{HeartbeatTimeout: 4 * time.Second, StartTimeout: 30 * time.Second},
		now: func() time.Time { return now }, sight: &sight{}}
	job := &jobspec.LiveJob{Time_scheduled: now.Add(-time.Hour), Time_last_heartbeat: now.Add(-30 * time.Second)}
	if s.deadReason(job) == "" {
		t.Fatal("a heartbeat 30 s old with the store in sight should be dead")
	}
	s.sight.lost() // the store went away; it answers again at now
	s.sight.seen(now)
	if why := s.deadReason(job); why != "" {
		t.Errorf("right after the store came back: %q, want alive", why)
	}
	now = now.Add(3 * time.Second)
	if why := s.deadReason(job); why != "" {
		t.Errorf("3 s after the store came back: %q, want alive", why)
	}
	now = now.Add(2 * time.Second)
	if why := s.deadReason(job); why == "" {
		t.Error("5 s after the store came back, with no heartbeat since: want dead")
	}
	s.sight.seen(now) // seen again without a loss in between: nothing moves
	if why := s.deadReason(job); why == "" {
		t.Error("an answer without an outage before it must not reset the clock")
	}
}
