package transcoder

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// outputs is what the relay knows of its writes to the origin: since when
// they fail (zero once a PUT is taken), the newest failure and how many
// failed, for the heartbeats.
//
// What counts, after the relay's retries:
//   - a PUT the origin did not take (5xx, a transport error or timeout, or
//     a 4xx other than 401/403, such as 413 too large: retrying would not
//     help, and players miss the file all the same) starts a failure;
//   - a PUT the origin took ends it. DELETEs neither start nor end one
//     (a full disk refuses PUTs and takes DELETEs), but a failed DELETE is
//     counted;
//   - 401/403 mean the upload token is no longer the job's: this
//     placement is being fenced (a re-placement or a stop rotated or
//     cleared the token), and its heartbeats are about to be refused too.
//     That is not a failure of the job's outputs; it is counted and logged
//     only;
//   - no PUT for quietEnds ends it: nothing is being written (the run
//     ended, or a transcoder restarted in place that inherited a failure
//     has no publisher yet), so nothing fails, and a job waiting for its
//     publisher is not failed for writes that are over.
type outputs struct {
	changed chan struct{} // a failure started or ended: heartbeat now

	mu       sync.Mutex
	since    time.Time
	lastErr  string
	failures int64
	lastPut  time.Time // when the newest PUT (or the failure taken over) ended
}

// quietEnds is how long without a PUT ends a failure: longer than the
// longest segment (jobspec.MaxSegmentDuration), as a live run with video
// writes its thumbnail every 2 s and every run a manifest each segment,
// and shorter than the scheduler's default bound on a failure (1 min).
const quietEnds = 35 * time.Second

// uploadResult is how one write to the origin ended.
type uploadResult struct {
	method, name string
	status       int   // the origin's last answer; 0 if none
	err          error // the last transport error, if any
	started      time.Time
}

// took reports whether the origin stored the write.
func (u uploadResult) took() bool { return u.err == nil && u.status >= 200 && u.status < 300 }

// refused reports whether the origin refused the write's upload token.
func (u uploadResult) refused() bool {
	return u.err == nil && (u.status == http.StatusUnauthorized || u.status == http.StatusForbidden)
}

// summary says what failed without the origin's URL, which is in transport
// errors and may carry credentials: "PUT a.m3u8: origin answered 500".
func (u uploadResult) summary() string {
	if u.err != nil {
		var ue *url.Error
		err := u.err
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Sprintf("%s %s: %v", u.method, u.name, err)
	}
	return fmt.Sprintf("%s %s: origin answered %d %s", u.method, u.name, u.status, http.StatusText(u.status))
}

func newOutputs() *outputs { return &outputs{changed: make(chan struct{}, 1)} }

// record takes how one write ended.
func (o *outputs) record(u uploadResult) {
	o.mu.Lock()
	was := o.since
	if u.method == http.MethodPut {
		o.lastPut = time.Now()
	}
	switch {
	case u.took():
		if u.method == http.MethodPut {
			o.since, o.lastErr = time.Time{}, ""
		}
	case u.refused() || u.method != http.MethodPut:
		o.failures++
	default:
		o.failures++
		o.lastErr = u.summary()
		if o.since.IsZero() {
			o.since = u.started
		}
	}
	changed := !o.since.Equal(was)
	o.mu.Unlock()
	if changed {
		select {
		case o.changed <- struct{}{}:
		default:
		}
	}
}

// state returns since when writes fail (zero: they do not), the newest
// failure while they do, and how many writes failed in all.
func (o *outputs) state() (since time.Time, lastErr string, failures int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() && time.Since(o.lastPut) > quietEnds {
		o.since, o.lastErr = time.Time{}, ""
	}
	return o.since, o.lastErr, o.failures
}

// takeOver continues a failure a transcoder restarted in place inherits.
func (o *outputs) takeOver(since time.Time, lastErr string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.since, o.lastErr, o.lastPut = since, lastErr, time.Now()
}
