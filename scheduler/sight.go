package scheduler

import (
	"sync"
	"time"
)

// sight is when this scheduler could last start seeing heartbeats: when
// its last spell without the store ended (zero: never blind). A heartbeat
// is judged missing only over time the scheduler could have seen it, so a
// store outage re-places nothing: every transcoder gets a whole heartbeat
// timeout to report once the store is back (issue 17, F1). A scheduler
// started during an outage finds it blind at its first check.
type sight struct {
	mu    sync.Mutex
	blind bool
	since time.Time
}

// lost records that the store could not be reached.
func (v *sight) lost() {
	v.mu.Lock()
	v.blind = true
	v.mu.Unlock()
}

// seen records that the store answered at now.
func (v *sight) seen(now time.Time) {
	v.mu.Lock()
	if v.blind {
		v.blind, v.since = false, now
	}
	v.mu.Unlock()
}

// from is the start of the time the scheduler has been able to see.
func (v *sight) from() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.since
}
