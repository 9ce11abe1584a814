package transcoder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

	mu       sync.Mutex
	state    string
	stats    jobspec.Stats
	restarts int
}

func newSupervisor(cfg Config, rl *relay) *supervisor {
	return &supervisor{cfg: cfg, relay: rl, log: cfg.Logger, changed: make(chan struct{}, 1), state: StateListening}
}

func (s *supervisor) heartbeat() Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Restarts = s.restarts
	return Heartbeat{
		JobID: s.cfg.JobID, Generation: s.cfg.Generation, State: s.state,
		IngestAddr: s.cfg.ListenAddr, Stats: st, Time: time.Now(),
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

// Restart backoff after ffmpeg fails without having streamed (a port in
// use, a port scanner's junk handshake). A publisher leaving is not a
// failure: the listener comes back at once.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// supervise runs listener after listener until ctx is done. Each run is a
// new period, and a restart keeps the playback URL working: the run's
// segments carry g<generation>p<period> in their names, so nothing
// published is overwritten; HLS media sequences start at the run's Unix
// time, so they keep increasing, with EXT-X-DISCONTINUITY on the run's first
// segment; the relay keeps the previous run's ENDLIST and static MPD from
// players (see ffmpeg.Args and relay).
//
// A publisher that sends no audio makes ffmpeg fail as soon as it has probed
// the stream; the next listener fills the job's audio with silence, so the
// encoder's reconnect streams. The one after that tries the publisher's
// audio again, since the next publisher may send it.
func (s *supervisor) supervise(ctx context.Context) error {
	backoff := minBackoff
	silent := false
	for period := 0; ; period++ {
		if period > 0 {
			s.mu.Lock()
			s.restarts++
			s.mu.Unlock()
		}
		streamed, noAudio, err := s.runOnce(ctx, period, silent)
		if ctx.Err() != nil {
			return nil
		}
		if noAudio && !silent && len(s.cfg.Spec.Output.Audio_outputs) > 0 {
			s.log.Warn("the publisher sends no audio; the next listener fills the audio with silence", "period", period+1)
			silent = true
			continue
		}
		silent = false
		if streamed || err == nil {
			backoff = minBackoff
			s.log.Info("listener ended; restarting it", "period", period+1, "err", err)
			continue
		}
		s.log.Warn("ffmpeg failed; restarting listener", "period", period+1, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

var errStalled = errors.New("publisher stalled")

// runOnce runs one ffmpeg listener until it exits, ctx is done or the
// publisher stalls. streamed says whether media flowed in this run, noAudio
// whether ffmpeg found no audio in the publisher's stream.
func (s *supervisor) runOnce(ctx context.Context, period int, silent bool) (streamed, noAudio bool, err error) {
	t := ffmpeg.Target{
		ListenURL:   "rtmp://" + s.cfg.ListenAddr + "/live/" + s.cfg.StreamKey,
		OutputURL:   s.relay.URL(), // the relay adds the upload token
		Period:      period,
		Generation:  s.cfg.Generation,
		TimeURL:     timeURL(s.cfg.OriginURL),
		SilentAudio: silent,
	}
	s.update(StateListening, func(st *jobspec.Stats) { *st = jobspec.Stats{} })
	w := newWatch(s.cfg.StallTimeout)
	var missingAudio atomic.Bool
	p, err := startFFmpeg(s.cfg.FFmpegPath, ffmpeg.Args(s.cfg.Spec, t),
		func(pr progress) { s.onProgress(w, pr) },
		func(line string) {
			if strings.Contains(line, "Stream map '0:a:0' matches no streams") {
				missingAudio.Store(true)
			}
		}, s.cfg.StreamKey, s.log)
	if err != nil {
		return false, false, err
	}
	streamed, err = s.watchRun(ctx, p, w, period)
	return streamed, missingAudio.Load(), err
}

// watchRun follows one ffmpeg run: its exit, a stop or fence, a stall.
func (s *supervisor) watchRun(ctx context.Context, p *ffmpegProc, w *watch, period int) (streamed bool, err error) {
	s.log.Info("ffmpeg listening", "addr", s.cfg.ListenAddr, "period", period, "pid", p.pid())
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return w.streamed(), p.err()
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), ErrFenced) {
				s.relay.fenced.Store(true)
				p.kill()
			} else {
				s.relay.stopping.Store(true)
				p.stop(s.cfg.StopTimeout)
			}
			return w.streamed(), ctx.Err()
		case now := <-tick.C:
			in, out := p.bytesIn(), s.relay.bytesOut.Load()
			s.update("", func(st *jobspec.Stats) { st.Bytes_in, st.Bytes_out = in, out })
			if w.stalled(now, in, publisherConnected(s.cfg.ListenAddr)) {
				s.log.Warn("publisher stalled; restarting listener", "stall_timeout", s.cfg.StallTimeout)
				p.stop(s.cfg.StopTimeout)
				return w.streamed(), fmt.Errorf("period %d: %w", period, errStalled)
			}
		}
	}
}

// onProgress takes one -progress block: media is flowing once ffmpeg has
// output time.
func (s *supervisor) onProgress(w *watch, pr progress) {
	w.progressed(time.Now(), pr.outTimeUS)
	state := StateListening
	if pr.outTimeUS > 0 || pr.frames > 0 {
		state = StateStreaming
	}
	s.update(state, func(st *jobspec.Stats) {
		st.Fps, st.Speed, st.Frames, st.Dropped_frames = pr.fps, pr.speed, pr.frames, pr.dropped
		st.Bitrate_kbps = pr.bitrateKbps
		if st.Bitrate_kbps == 0 && pr.outTimeUS > 0 {
			// ffmpeg has no output size for HTTP segments: report the ingest
			// bitrate instead.
			st.Bitrate_kbps = float64(st.Bytes_in) * 8 / 1000 / (float64(pr.outTimeUS) / 1e6)
		}
	})
}

// watch decides when a connected publisher has stalled: a publisher is
// connected to the listener (or media flowed), and neither ffmpeg's input
// bytes nor its output time moved for the stall timeout.
type watch struct {
	timeout time.Duration

	mu         sync.Mutex
	lastIn     int64
	lastOut    int64
	lastMove   time.Time
	hadOutTime bool
}

func newWatch(timeout time.Duration) *watch { return &watch{timeout: timeout, lastMove: time.Now()} }

func (w *watch) progressed(now time.Time, outTimeUS int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if outTimeUS > w.lastOut {
		w.lastOut, w.lastMove, w.hadOutTime = outTimeUS, now, true
	}
}

func (w *watch) stalled(now time.Time, bytesIn int64, connected bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytesIn > w.lastIn {
		w.lastIn, w.lastMove = bytesIn, now
	}
	if !connected && !w.hadOutTime {
		w.lastMove = now // waiting for a publisher is not a stall
		return false
	}
	return now.Sub(w.lastMove) > w.timeout
}

func (w *watch) streamed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hadOutTime
}
