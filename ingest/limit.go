package ingest

import (
	"sync"
	"time"
)

// attemptLimiter caps connection attempts per source IP in a sliding minute.
type attemptLimiter struct {
	mu        sync.Mutex
	max       int
	attempts  map[string][]time.Time
	lastSweep time.Time
}

func newAttemptLimiter(max int) *attemptLimiter {
	return &attemptLimiter{max: max, attempts: map[string][]time.Time{}}
}

// allow records an attempt from ip at now and reports whether it is within the cap.
func (l *attemptLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := now.Add(-time.Minute)
	if now.Sub(l.lastSweep) > time.Minute { // forget idle addresses so the map stays small
		for k, ts := range l.attempts {
			if len(ts) == 0 || ts[len(ts)-1].Before(cutoff) {
				delete(l.attempts, k)
			}
		}
		l.lastSweep = now
	}
	ts := l.attempts[ip]
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= l.max {
		l.attempts[ip] = ts
		return false
	}
	l.attempts[ip] = append(ts, now)
	return true
}
