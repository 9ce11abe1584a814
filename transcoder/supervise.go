package transcoder

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// supervisor owns the state one Run reports. Its fields are shared between
// the supervising goroutine, ffmpeg's progress reader and the heartbeat
// loop, hence the mutex.
type supervisor struct {
	cfg     Config
	relay   *relay
	log     *slog.Logger
	changed chan struct{} // kicks the heartbeat loop on a state change

	front  *front
	slates *slates
	policy policy

	mu             sync.Mutex
	state          string
	stats          jobspec.Stats
	restarts       int
	inputLostSince time.Time
	streamKey      string // the job's key now (Reply.StreamKey)
}

func newSupervisor(cfg Config, rl *relay, ss *slates) *supervisor {
	return &supervisor{cfg: cfg, relay: rl, log: cfg.Logger, changed: make(chan struct{}, 1), state: StateListening,
		slates: ss, policy: policyOf(cfg.Spec), inputLostSince: cfg.InputLostSince, streamKey: cfg.StreamKey}
}

func (s *supervisor) currentKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamKey
}

// rekey follows a rotation of the job's stream key ("": none). The front
// is written under mu because this runs on the heartbeat loop.
func (s *supervisor) rekey(key string) {
	s.mu.Lock()
	if key == "" || key == s.streamKey {
		s.mu.Unlock()
		return
	}
	s.streamKey = key
	f := s.front
	s.mu.Unlock()
	s.log.Info("stream key rotated")
	if f != nil {
		f.setKey(key)
	}
}

func (s *supervisor) heartbeat() Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Restarts = s.restarts
	failingSince, outputErr, failures := s.relay.outputs.state()
	st.Upload_failures = failures
	return Heartbeat{
		JobID: s.cfg.JobID, Generation: s.cfg.Generation, State: s.state,
		IngestAddr: s.cfg.ListenAddr, Stats: st, Time: time.Now(), InputLostSince: s.inputLostSince,
		OutputFailingSince: failingSince, OutputError: outputErr,
	}
}

// update applies fn to the stats and moves to state ("" keeps the current
// one), kicking the heartbeat loop when the state changed.
func (s *supervisor) update(state string, fn func(*jobspec.Stats)) {
	s.mu.Lock()
	if state == "" {
		state = s.state
	}
	changed := s.state != state
	s.state = state
	if fn != nil {
		fn(&s.stats)
	}
	s.mu.Unlock()
	if changed {
		s.log.Info("transcoder state", "state", state)
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// Restart backoff after ffmpeg fails without having streamed. A run that
// ends because its reconnect window passed is not a failure.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// supervise serves publishers until ctx is done. The front takes them;
// each run of ffmpeg starts with a publisher's first key frame and lasts,
// through publishers leaving and coming back, until the input has been
// lost for the reconnect window (then the stream ends cleanly and the
// transcoder waits for its publisher, with the next period's ffmpeg idle)
// or ffmpeg fails. Each run is a new period: its segments carry g<generation>p<period>
// in their names, HLS media sequences start at the run's Unix time, with
// EXT-X-DISCONTINUITY on the run's first segment (see ffmpeg.Args).
func (s *supervisor) supervise(ctx context.Context) error {
	s.mu.Lock()
	f, err := startFront(s.cfg.ListenAddr, s.streamKey, s.log)
	s.front = f
	s.mu.Unlock()
	if err != nil {
		return err
	}
	defer f.close()
	backoff := minBackoff
	for period := s.cfg.FirstPeriod; ; period++ {
		// A run that ended with its window keeps InputLostSince: the input
		// is still lost, until a publisher's next run goes live.
		s.update(StateListening, func(st *jobspec.Stats) { *st = jobspec.Stats{} })
		err := s.serveRun(ctx, period)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			backoff = minBackoff
			continue
		}
		s.log.Warn("ffmpeg failed; waiting for the publisher again", "period", period, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// serveRun starts the period's ffmpeg ahead of the publisher, so that it
// is ready to take media the moment a key frame arrives (an ffmpeg started
// then would take its start-up out of the stream's first seconds, which
// then run ahead of the clock DASH and LL-HLS players go by); an idle
// ffmpeg waits on its input and costs no CPU. The run lasts until the
// input has been lost for the reconnect window. The error is nil when the
// run streamed, whatever ended it.
func (s *supervisor) serveRun(ctx context.Context, period int) error {
	r, err := s.startRun(period)
	if err != nil {
		return err
	}
	first, ok := awaitKeyframe(ctx, s.front, r.p.done, s.policy.audioOnly)
	if !ok {
		r.p.kill()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ffmpeg exited before a publisher came: %w", r.p.err())
	}
	s.mu.Lock()
	s.restarts = period
	s.mu.Unlock()
	err = r.loop(ctx, first)
	if r.hadOutput.Load() {
		s.log.Info("run ended", "period", period, "err", err)
		return nil
	}
	return err
}

// awaitKeyframe waits for a publisher's first key frame; a publisher that
// leaves before it is forgotten. ok is false when ctx is done or the idle
// ffmpeg exited (done).
func awaitKeyframe(ctx context.Context, f *front, done <-chan struct{}, audioOnly bool) (*pending, bool) {
	var p *pending
	var tags chan tag
	for {
		select {
		case <-ctx.Done():
			if p != nil {
				p.s.drop()
			}
			return nil, false
		case <-done:
			if p != nil {
				p.s.drop()
			}
			return nil, false
		case s := <-f.sessions:
			p, tags = &pending{s: s}, s.tags
		case t, open := <-tags:
			switch {
			case !open:
				p, tags = nil, nil
			case p.take(t, audioOnly):
				return p, true
			}
		}
	}
}

// startRun starts the period's ffmpeg, waiting on its input.
func (s *supervisor) startRun(period int) (*run, error) {
	t := ffmpeg.Target{OutputURL: s.relay.URL(), Period: period, Generation: s.cfg.Generation, TimeURL: timeURL(s.cfg.OriginURL)}
	r := &run{s: s, bytesInBefore: s.front.bytesIn.Load()}
	p, stdin, err := startFFmpeg(s.cfg.FFmpegPath, ffmpeg.Args(s.cfg.Spec, t),
		func(pr progress) { s.onProgress(r, pr) }, func(string) {}, s.currentKey(), s.log)
	if err != nil {
		return nil, err
	}
	w, err := newFLVWriter(stdin, !s.policy.audioOnly)
	if err != nil {
		p.kill()
		return nil, err
	}
	s.relay.stopping.Store(false)
	s.log.Info("ffmpeg ready", "period", period, "pid", p.pid())
	r.p, r.stdin, r.sp = p, stdin, newSplice(w, s.slates, s.policy, s.log)
	return r, nil
}

// onProgress takes one -progress block of r's ffmpeg: media is flowing
// once ffmpeg has output time.
func (s *supervisor) onProgress(r *run, pr progress) {
	state := StateListening
	if pr.outTimeUS > 0 || pr.frames > 0 {
		state = StateStreaming
		r.hadOutput.Store(true)
	}
	s.update(state, func(st *jobspec.Stats) {
		st.Fps, st.Speed, st.Frames, st.Dropped_frames = pr.fps, pr.speed, pr.frames, pr.dropped
		st.Bitrate_kbps = pr.bitrateKbps
		if st.Bitrate_kbps == 0 && pr.outTimeUS > 0 {
			// ffmpeg has no output size for HTTP segments: report the
			// run's ingest bitrate instead. Bytes_in counts since the
			// transcoder started, the output time since the run did.
			st.Bitrate_kbps = float64(st.Bytes_in-r.bytesInBefore) * 8 / 1000 / (float64(pr.outTimeUS) / 1e6)
		}
	})
}

// setInputLost records when the input was lost (zero: it is live).
func (s *supervisor) setInputLost(at time.Time) {
	s.mu.Lock()
	changed := !s.inputLostSince.Equal(at)
	s.inputLostSince = at
	s.mu.Unlock()
	if changed {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}
