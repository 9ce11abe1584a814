package scheduler

import (
	"fmt"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// DefaultOutputFailureTimeout is how long the ezlive commands let a job's
// outputs fail before the job fails (-output-failure-timeout).
const DefaultOutputFailureTimeout = time.Minute

// outputFailure says why the job fails for its outputs ("" if it does
// not): its transcoder has reported, for longer than OutputFailureTimeout,
// that the origin does not take its writes. Re-placing would not help: every
// node writes to the same origin. As for heartbeats, only time the
// scheduler could see counts (sight): after a store outage the transcoder
// gets a whole bound to report its writes taken again.
func (s *Scheduler) outputFailure(job *jobspec.LiveJob) string {
	bound, since := s.cfg.OutputFailureTimeout, job.Output_failing_since
	if bound <= 0 || since.IsZero() {
		return ""
	}
	now := s.now()
	if now.Sub(latest(since, s.sight.from())) <= bound {
		return ""
	}
	return fmt.Sprintf("outputs failing for %s (bound %s): %s", now.Sub(since).Round(time.Second), bound, job.Output_error)
}
