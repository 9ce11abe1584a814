// Package transcoder serves one live job: its RTMP front takes the
// publisher (the job's stream key only), it feeds ffmpeg one continuous
// input (the publisher's media, or while the input is lost the repeated
// last frame, then the slate, with silence), relays ffmpeg's uploads to the
// origin, reads ffmpeg's -progress output and heartbeats state and stats
// to a Reporter. It owns no storage: Redis, Nomad and the origin are
// reached only through the Reporter and the URLs in its Config. Linux only
// (parent-death signal).
//
// Encoders publish through the ingest gateway, which gives the job one
// stable URL; the front checks the key as well, so a listener reachable
// on the node's private network takes nothing but the job's publisher.
package transcoder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// ErrFenced means the transcoder's placement generation is no longer the
// job's current one: another transcoder owns the job now.
var ErrFenced = errors.New("placement generation is no longer current")

// ExitFenced is the transcoder's exit status when its placement generation is
// no longer current: it must not be restarted.
const ExitFenced = 3

// States reported in heartbeats.
const (
	StateListening = "listening" // waiting for a publisher; ffmpeg, if any, idle
	StateStreaming = "streaming" // media flows (the slate's too)
)

// Heartbeat is what the transcoder says about itself every interval, on
// every state change and when an output failure starts or ends. Stats.Fps, Speed, Frames and Dropped_frames describe
// the current run; Bytes_in (bytes read from publishers), Bytes_out
// (bytes the origin accepted) and Upload_failures (writes it did not take)
// count since Run started; Restarts is the period of the latest run that took a
// publisher (0 for the first run of a placement). Bitrate_kbps is the
// ingest bitrate of the run.
type Heartbeat struct {
	JobID      string
	Generation int64
	State      string // StateListening or StateStreaming
	IngestAddr string // host:port the RTMP front is bound to
	Stats      jobspec.Stats
	Time       time.Time
	// InputLostSince is when the publisher's input was lost and the output
	// switched to the slate; zero while live or before any publisher.
	InputLostSince time.Time
	// OutputFailingSince is since when the origin has not taken the
	// relay's writes (see outputs for what counts); zero while it does.
	// OutputError is the newest failure then, e.g. "PUT index.m3u8:
	// origin answered 500 Internal Server Error"; it names no URL and no
	// token. Stats.Upload_failures counts the failed writes.
	OutputFailingSince time.Time
	OutputError        string
}

// Reporter takes heartbeats to the control plane and answers what the
// transcoder must follow. An error wrapping ErrFenced stops the
// transcoder; other errors are logged and the next heartbeat tries again.
type Reporter interface {
	Report(ctx context.Context, hb Heartbeat) (Reply, error)
}

// Reply is the control plane's answer to a heartbeat.
type Reply struct {
	// StreamKey is the job's stream key now; empty: unchanged. After a
	// rotation the front takes only the new key and drops a publisher
	// still on the old one, as the ingest gateway does.
	StreamKey string
}

// Config is one job's transcoder.
type Config struct {
	JobID       string
	Generation  int64
	Spec        jobspec.Spec // validated and defaulted
	StreamKey   string
	ListenAddr  string // host:port of the RTMP front
	OriginURL   string // base URL of the job's folder, e.g. http://127.0.0.1:1081/live/<job id>/
	UploadToken string
	FFmpegPath  string // default "ffmpeg"
	Reporter    Reporter
	// HeartbeatInterval defaults to 1 s.
	HeartbeatInterval time.Duration
	// LossTimeout is how long a connected publisher may send nothing before
	// its input counts as lost. Default 1 s (AWS MediaLive's input loss
	// threshold).
	LossTimeout time.Duration
	// StopTimeout is how long ffmpeg gets to flush its last segment after
	// SIGINT before it is killed. Default 5 s.
	StopTimeout time.Duration
	Logger      *slog.Logger
	// FirstPeriod is the period of the first run: 0 for a new placement;
	// for a transcoder restarted in place, one more than the last period
	// its job's record knows (Stats.Restarts), so that no segment name of
	// the process before it is written again.
	FirstPeriod int
	// InputLostSince is the loss a transcoder restarted in place takes
	// over: its publisher was cut with the process before it.
	InputLostSince time.Time
	// OutputFailingSince and OutputError are the output failure a
	// transcoder restarted in place takes over, so that restarts do not
	// reset how long it has lasted; it ends with the first PUT the origin
	// takes.
	OutputFailingSince time.Time
	OutputError        string
	// AllowPrivateSlate lets the job's Slate_url be fetched from a
	// loopback, private or link-local address (one machine, tests). Off, a
	// spec cannot make a node fetch from inside its network.
	AllowPrivateSlate bool
}

func (c Config) withDefaults() Config {
	if c.FFmpegPath == "" {
		c.FFmpegPath = "ffmpeg"
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.LossTimeout <= 0 {
		c.LossTimeout = time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("job_id", c.JobID, "generation", c.Generation)
	if c.OriginURL != "" && !strings.HasSuffix(c.OriginURL, "/") {
		c.OriginURL += "/"
	}
	return c
}

func (c Config) validate() error {
	var missing []string
	for name, v := range map[string]string{"JobID": c.JobID, "StreamKey": c.StreamKey, "ListenAddr": c.ListenAddr, "OriginURL": c.OriginURL} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if c.Reporter == nil {
		missing = append(missing, "Reporter")
	}
	if len(missing) > 0 {
		return fmt.Errorf("transcoder config: missing %s", strings.Join(missing, ", "))
	}
	if _, err := url.Parse(c.OriginURL); err != nil {
		return fmt.Errorf("transcoder config: origin URL: %w", err)
	}
	return nil
}

// Run supervises the job's ffmpeg until ctx is done, then stops it
// gracefully (last segment flushed, HLS ENDLIST written) and returns nil.
// It returns an error wrapping ErrFenced when the Reporter says the
// placement is no longer current; ffmpeg is then killed at once so it
// writes nothing more.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	rl, err := startRelay(cfg.OriginURL, cfg.UploadToken, cfg.Logger)
	if err != nil {
		return fmt.Errorf("transcoder job %s: %w", cfg.JobID, err)
	}
	rl.outputs.takeOver(cfg.OutputFailingSince, cfg.OutputError)
	rl.streaming.Store(bool(cfg.Spec.Output.Low_latency_mode))
	if jobspec.LowLatencyHLS(cfg.Spec.Output) {
		rl.enableLLHLS(cfg.Spec)
	}
	ss, cleanup, err := jobSlates(ctx, cfg)
	if err != nil {
		return fmt.Errorf("transcoder job %s: %w", cfg.JobID, err)
	}
	defer cleanup()
	s := newSupervisor(cfg, rl, ss)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		s.heartbeats(ctx, cancel)
	}()
	err = s.supervise(ctx)
	cancel(nil)
	<-beats
	rl.close(cfg.StopTimeout)
	if cause := context.Cause(ctx); errors.Is(cause, ErrFenced) {
		return fmt.Errorf("transcoder job %s: %w", cfg.JobID, cause)
	}
	rl.flushHeld()
	return err
}

// timeURL is the origin's clock for players (origin.TimePath), at the host
// of the job's origin URL, which is also where players fetch the stream.
// Empty when the URL has no /live/ folder to cut at.
func timeURL(originURL string) string {
	u, err := url.Parse(originURL)
	if err != nil {
		return ""
	}
	base, _, found := strings.Cut(u.Path, "/live/")
	if !found {
		return ""
	}
	u.Path, u.RawQuery, u.Fragment = strings.TrimSuffix(base, "/")+"/time", "", ""
	return u.String()
}

// heartbeats reports every interval and on every state change until ctx is
// done; a fenced answer cancels ctx with ErrFenced.
func (s *supervisor) heartbeats(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		rctx, cancelReport := context.WithTimeout(ctx, max(3*s.cfg.HeartbeatInterval, 2*time.Second))
		reply, err := s.cfg.Reporter.Report(rctx, s.heartbeat())
		cancelReport()
		switch {
		case errors.Is(err, ErrFenced):
			s.log.Warn("fenced: another placement owns the job", "err", err)
			cancel(err)
			return
		case err != nil && ctx.Err() == nil:
			s.log.Warn("heartbeat failed", "err", err)
		case err == nil:
			s.rekey(reply.StreamKey)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.changed:
		case <-s.relay.outputs.changed:
		}
	}
}

// jobSlates prepares the job's slate image: the one at the spec's
// Slate_url, fetched once now, or the built-in card when there is none or
// it cannot be fetched.
func jobSlates(ctx context.Context, cfg Config) (*slates, func(), error) {
	image := builtinSlate
	if url := jobspec.InputLossOf(cfg.Spec).SlateURL; url != "" {
		b, err := fetchSlate(ctx, url, cfg.AllowPrivateSlate)
		if err != nil {
			cfg.Logger.Warn("slate image not fetched; the built-in card is shown instead", "url", url, "err", err)
		} else {
			image = b
		}
	}
	dir, err := os.MkdirTemp("", "ezlive-slate-")
	if err != nil {
		return nil, nil, err
	}
	ss, err := newSlates(cfg.FFmpegPath, dir, image)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return ss, func() { os.RemoveAll(dir) }, nil
}

// policyOf is the job's input-loss policy.
func policyOf(spec jobspec.Spec) policy {
	il := jobspec.InputLossOf(spec)
	fps := 25.0
	for _, v := range spec.Output.Video_outputs {
		fps = max(fps, v.Framerate)
	}
	return policy{window: il.ReconnectWindow, repeat: il.RepeatLastFrame, fps: fps,
		audioOnly: len(spec.Output.Video_outputs) == 0}
}
