package scheduler

import (
	"log/slog"
	"sync"
	"time"
)

// stuckRepairs remembers the sweep findings whose repair keeps failing, so
// that the sweep backs off on them (doubling from one sweep interval to
// maxRepairBackoff) and logs each once, then once more when it succeeds.
// It lives in memory on purpose: it only paces retries and logs, and a new
// scheduler starts by trying everything once.
type stuckRepairs struct {
	mu   sync.Mutex
	jobs map[string]*stuckRepair
}

type stuckRepair struct {
	finding string
	wait    time.Duration
	next    time.Time
	fails   int
}

const maxRepairBackoff = 5 * time.Minute

// due reports whether job's repair may be tried at now.
func (r *stuckRepairs) due(job string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.jobs[job]
	return st == nil || !now.Before(st.next)
}

// failed records a failed repair and logs it when it is the first of its
// kind; interval is the first wait.
func (r *stuckRepairs) failed(log *slog.Logger, job, finding string, err error, now time.Time, interval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil {
		r.jobs = map[string]*stuckRepair{}
	}
	st := r.jobs[job]
	if st == nil || st.finding != finding {
		st = &stuckRepair{finding: finding, wait: interval}
		r.jobs[job] = st
		log.Warn("sweep: repair failed; backing off, logged once until it succeeds",
			"job_id", job, "finding", finding, "err", err)
	} else {
		st.wait = min(2*st.wait, maxRepairBackoff)
	}
	st.fails++
	st.next = now.Add(st.wait)
}

// succeeded forgets job's failures, saying so if there were any.
func (r *stuckRepairs) succeeded(log *slog.Logger, job string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.jobs[job]; st != nil {
		log.Info("sweep: repair succeeded after failures", "job_id", job, "finding", st.finding, "failures", st.fails)
		delete(r.jobs, job)
	}
}
