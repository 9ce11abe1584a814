package ingest

import (
	"sync"
	"time"
)

// attemptLimiter caps the failed attempts per source IP in a sliding minute:
// an address that failed max times in the last minute is refused until the
// oldest failure leaves the window. Publishers that get through never
// count, so an encoder may reconnect as often as it needs.
type attemptLimiter struct {
	mu        sync.Mutex
	max       int
	failures  map[string][]time.Time
	refusals  map[string]*refusalLog
	lastSweep time.Time
}

// refusalLog is when an address's refusals were last logged, and how many
// came since.
type refusalLog struct {
	logged   time.Time
	unlogged int
}

func newAttemptLimiter(max int) *attemptLimiter {
	return &attemptLimiter{max: max, failures: map[string][]time.Time{}, refusals: map[string]*refusalLog{}}
}

// allow reports whether ip failed fewer than max times in the minute before now.
func (l *attemptLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	return len(l.recent(ip, now)) < l.max
}

// fail records a failed or refused attempt from ip at now.
func (l *attemptLimiter) fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[ip] = append(l.recent(ip, now), now)
}

// refused records that the limit refused ip at now, and returns how many
// such refusals to log now: the first, then the count at most once a minute
// per address (0: not yet).
func (l *attemptLimiter) refused(ip string, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.refusals[ip]
	if r == nil {
		r = &refusalLog{}
		l.refusals[ip] = r
	}
	r.unlogged++
	if !r.logged.IsZero() && now.Sub(r.logged) < time.Minute {
		return 0
	}
	n := r.unlogged
	r.logged, r.unlogged = now, 0
	return n
}

// recent drops ip's failures older than a minute and returns the rest.
func (l *attemptLimiter) recent(ip string, now time.Time) []time.Time {
	cutoff := now.Add(-time.Minute)
	ts := l.failures[ip]
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	l.failures[ip] = ts[i:]
	return ts[i:]
}

// sweep forgets idle addresses, once a minute, so that the maps stay small.
func (l *attemptLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) <= time.Minute {
		return
	}
	cutoff := now.Add(-time.Minute)
	for ip, ts := range l.failures {
		if len(ts) == 0 || ts[len(ts)-1].Before(cutoff) {
			delete(l.failures, ip)
		}
	}
	// Refusals not logged yet are kept for the address's next line, for an
	// hour at most.
	for ip, r := range l.refusals {
		if r.logged.Before(cutoff) && (r.unlogged == 0 || r.logged.Before(now.Add(-time.Hour))) {
			delete(l.refusals, ip)
		}
	}
	l.lastSweep = now
}
