package transcoder

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// run is one ffmpeg and the splice feeding it.
type run struct {
	s     *supervisor
	p     *ffmpegProc
	stdin io.WriteCloser
	sp    *splice

	hadOutput     atomic.Bool // ffmpeg has reported output time
	bytesInBefore int64       // the front's Bytes_in when the run started

	src       *session // the live publisher; nil while the input is lost
	next      *pending // a publisher come back, until its first key frame
	lastMedia time.Time
	windowEnd <-chan time.Time
}

// pacing is how often the slate's due frames are written.
const pacing = 10 * time.Millisecond

// loop feeds ffmpeg until the reconnect window passes (nil), ffmpeg exits
// or ctx is done.
func (r *run) loop(ctx context.Context, first *pending) error {
	if err := r.live(first, time.Now()); err != nil {
		return r.end(err)
	}
	tick := time.NewTicker(pacing)
	defer tick.Stop()
	stats := time.NewTicker(500 * time.Millisecond)
	defer stats.Stop()
	for {
		var err error
		select {
		case <-r.p.done:
			r.dropAll()
			return r.p.err()
		case <-ctx.Done():
			r.dropAll()
			r.finish(ctx)
			return ctx.Err()
		case s := <-r.s.front.sessions:
			if r.next != nil {
				r.next.s.drop()
			}
			r.next = &pending{s: s}
		case t, open := <-r.nextTags():
			err = r.takeNext(t, open)
		case t, open := <-r.liveTags():
			err = r.takeLive(t, open)
		case now := <-tick.C:
			err = r.paced(now)
		case <-stats.C:
			in, out := r.s.front.bytesIn.Load(), r.s.relay.bytesOut.Load()
			r.s.update("", func(st *jobspec.Stats) { st.Bytes_in, st.Bytes_out = in, out })
		case <-r.windowEnd:
			r.s.log.Info("input lost for the whole reconnect window; ending the stream", "window", r.s.policy.window)
			return r.end(nil)
		}
		if errors.Is(err, errEndOfStream) {
			return r.end(nil)
		}
		if err != nil {
			return r.end(err)
		}
	}
}

// errEndOfStream: the input is lost and there is no slate to show.
var errEndOfStream = errors.New("end of stream")

func (r *run) liveTags() chan tag {
	if r.src == nil {
		return nil
	}
	return r.src.tags
}

func (r *run) nextTags() chan tag {
	if r.next == nil {
		return nil
	}
	return r.next.s.tags
}

// live makes p's publisher the input, at its first key frame.
func (r *run) live(p *pending, now time.Time) error {
	if r.src != nil {
		r.src.drop()
	}
	r.src, r.next, r.lastMedia, r.windowEnd = p.s, nil, now, nil
	restored := !r.sp.lostAt.IsZero()
	if err := r.sp.goLive(p); err != nil {
		return err
	}
	if restored {
		r.s.log.Info("input restored", "session", p.s.id)
	}
	r.s.setInputLost(time.Time{})
	return nil
}

func (r *run) takeNext(t tag, open bool) error {
	if !open {
		r.next = nil
		return nil
	}
	if !r.next.take(t, r.s.policy.audioOnly) {
		return nil
	}
	return r.live(r.next, time.Now())
}

func (r *run) takeLive(t tag, open bool) error {
	if !open {
		return r.lose(time.Now())
	}
	r.lastMedia = time.Now()
	return r.sp.live(t)
}

// paced notices a publisher that went silent and writes the slate frames
// that are due.
func (r *run) paced(now time.Time) error {
	if r.src != nil && len(r.src.tags) == 0 && now.Sub(r.lastMedia) > r.s.cfg.LossTimeout {
		r.s.log.Warn("the publisher sends nothing; its input is lost", "after", r.s.cfg.LossTimeout)
		r.src.drop()
		return r.lose(now)
	}
	if r.src == nil && r.sp.slate != nil {
		return r.sp.slateDue(now)
	}
	return nil
}

// lose switches to the slate for the reconnect window.
func (r *run) lose(now time.Time) error {
	r.src = nil
	ok, err := r.sp.lose(now)
	if err != nil {
		return err
	}
	if !ok {
		r.s.log.Info("input lost; no reconnect window: ending the stream")
		return errEndOfStream
	}
	r.s.log.Info("input lost; showing the slate", "window", r.s.policy.window, "repeat_last_frame", r.s.policy.repeat)
	r.s.setInputLost(now)
	r.windowEnd = time.After(r.s.policy.window)
	return nil
}

func (r *run) dropAll() {
	if r.src != nil {
		r.src.drop()
	}
	if r.next != nil {
		r.next.s.drop()
	}
}

// end ends the stream cleanly: the input closes, ffmpeg writes the last
// segment and ENDLIST (or a static MPD), which the relay lets through.
func (r *run) end(cause error) error {
	r.dropAll()
	r.s.relay.stopping.Store(true)
	r.stdin.Close()
	select {
	case <-r.p.done:
	case <-time.After(r.s.cfg.StopTimeout):
		r.p.stop(r.s.cfg.StopTimeout)
	}
	if cause != nil {
		return cause
	}
	return r.p.err()
}

// finish stops ffmpeg when the transcoder stops: gracefully, or at once
// when fenced (another placement owns the job; nothing more is written).
func (r *run) finish(ctx context.Context) {
	if errors.Is(context.Cause(ctx), ErrFenced) {
		r.s.relay.fenced.Store(true)
		r.p.kill()
		return
	}
	r.end(nil)
}
