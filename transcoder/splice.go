package transcoder

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/avc"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
)

// The splice writes one ffmpeg run's input: the publisher's media while it
// is live, and while it is lost the last frame repeated, then the slate,
// with silent audio, in real time; all on one timeline, so the outputs go
// on with the same numbers and no discontinuity.
//
// The last frame is repeated by the decoder side of ffmpeg itself: the
// first slate frame is written RepeatLastFrame after the last live one, and
// each rendition's fps filter fills the gap with copies of the last frame.
// It is written at once, not a second later, so the outputs never wait:
// the timeline then runs up to RepeatLastFrame ahead of the wall clock (a
// publisher that went silent is noticed a loss timeout late, which leaves
// less). The slate absorbs that lead: it is written at 10/11 of real time
// until the timeline is back on the clock, so losses do not pile up
// latency; a publisher back before that keeps the rest.

// policy is what the job's spec says to do when the input is lost.
type policy struct {
	window time.Duration // reconnect window; 0: end the stream at once
	repeat time.Duration // last frame repeated before the slate
	fps    float64       // the slate's frame rate: the ladder's highest
	// audioOnly: the job has no video outputs, so the publisher's video
	// (if any) is left out, a run starts at its first audio frame, and a
	// lost input is filled with silence alone.
	audioOnly bool
}

// pending is a publisher's session up to its first key frame, with the
// configurations it sent before it.
type pending struct {
	s           *session
	videoConfig *tag
	audioConfig *tag
	keyframe    tag
}

// take reads one tag of the session; it reports true at the first key
// frame (for an audio-only job: the first audio frame), which pending
// then holds.
func (p *pending) take(t tag, audioOnly bool) bool {
	switch {
	case t.isVideoConfig():
		p.videoConfig = &t
	case t.isAudioConfig():
		p.audioConfig = &t
	case audioOnly:
		if t.typ == tagAudio && t.isAAC() && p.audioConfig != nil {
			p.keyframe = t
			return true
		}
	case t.isVideoKeyframe() && p.videoConfig != nil:
		p.keyframe = t
		return true
	}
	return false
}

// shape is the slate shape that matches the publisher: its picture size
// (from the SPS) and audio format (from the AudioSpecificConfig), 48 kHz
// stereo when it sends no audio.
func (p *pending) shape(fps float64) ffmpeg.Slate {
	sh := ffmpeg.Slate{Width: 1280, Height: 720, Fps: fps, SampleRate: 48000, Channels: 2}
	if p.videoConfig == nil {
		sh.Width, sh.Height = 320, 180 // audio only: the slate's picture is never used
	} else if w, h, ok := avcSize(p.videoConfig.body); ok {
		sh.Width, sh.Height = w, h
	}
	if rate, channels, ok := aacFormat(p.audioConfig); ok {
		sh.SampleRate, sh.Channels = rate, min(2, max(1, channels))
	}
	return sh
}

// aacFormat reads the sample rate and channel count of an AAC sequence
// header tag (its AudioSpecificConfig); ok is false without one.
func aacFormat(config *tag) (rate, channels int, ok bool) {
	if config == nil || len(config.body) < 3 {
		return 0, 0, false
	}
	asc, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(config.body[2:]))
	if err != nil || asc.SamplingFrequency <= 0 {
		return 0, 0, false
	}
	return asc.SamplingFrequency, int(asc.ChannelConfiguration), true
}

// avcSize reads the picture size from an AVC sequence header tag body.
func avcSize(body []byte) (w, h int, ok bool) {
	if len(body) < 6 {
		return 0, 0, false
	}
	rec, err := avc.DecodeAVCDecConfRec(body[5:])
	if err != nil || len(rec.SPSnalus) == 0 {
		return 0, 0, false
	}
	sps, err := avc.ParseSPSNALUnit(rec.SPSnalus[0], false)
	if err != nil || sps.Width == 0 || sps.Height == 0 {
		return 0, 0, false
	}
	return int(sps.Width), int(sps.Height), true
}

// splice is the writer of one run's input and its timeline, in
// milliseconds. It is used by one goroutine.
type splice struct {
	w      *flvWriter
	slates *slates
	pol    policy
	log    *slog.Logger
	trace  bool // log the live frames written (trace.go)

	wrote    bool
	lastDTS  int64   // video
	lastPTS  int64   // video, presentation
	audioEnd float64 // where the last audio frame ends, exactly
	audioMS  float64 // duration of the audio frames being written

	// live
	src      *session
	shape    ffmpeg.Slate
	offset   int64 // output = publisher's timestamp + offset
	pubAudio bool  // the publisher's audio is written (else silence)
	silence  *slate
	silenceN int

	liveWall time.Time // when the last live video frame was written

	// lost
	lead      time.Duration // how far the timeline ran ahead of the clock at the loss
	lostAt    time.Time
	slate     *slate
	slateN    int   // slate frames written
	slateFrom int64 // PTS of the first slate frame
}

func newSplice(w *flvWriter, ss *slates, pol policy, log *slog.Logger) *splice {
	return &splice{w: w, slates: ss, pol: pol, log: log, trace: traceEnabled(log)}
}

// next is where media continues on the timeline: after the last video frame
// shown and the last audio frame.
func (sp *splice) next() int64 {
	if !sp.wrote {
		return 0
	}
	return max(sp.lastPTS+int64(math.Round(1000/sp.pol.fps)), int64(math.Ceil(sp.audioEnd)))
}

// goLive switches the input to a publisher at its first key frame.
func (sp *splice) goLive(p *pending) error {
	pos := sp.next()
	sp.src, sp.lostAt, sp.slate = p.s, time.Time{}, nil
	sp.shape = p.shape(sp.pol.fps)
	sp.slates.prepare(sp.shape, func(err error) { sp.log.Warn("slate", "err", err) })
	sp.offset = pos - p.keyframe.ts
	if !sp.pol.audioOnly {
		if err := sp.writeVideo(tag{typ: tagVideo, ts: pos, body: p.videoConfig.body}); err != nil {
			return err
		}
	}
	sp.pubAudio = p.audioConfig != nil
	if sp.pubAudio {
		if err := sp.writeAudio(tag{typ: tagAudio, ts: pos, body: p.audioConfig.body}, audioFrameMS(p.audioConfig)); err != nil {
			return err
		}
	} else if err := sp.useSilence(pos); err != nil {
		return err
	}
	return sp.live(p.keyframe)
}

// silenceWait bounds the wait for the slate a publisher without audio takes
// its silence from. Its encode starts with the publisher, and on a loaded
// machine it took over 5 s; meanwhile ffmpeg waits on its input and the
// publisher's media waits in the socket, so a longer wait costs nothing
// but a late start, where giving up fails the run.
const silenceWait = 20 * time.Second

// useSilence starts the silence of the publisher's shape at ts: for a
// publisher that sends no audio, the job's audio is silent.
func (sp *splice) useSilence(ts int64) error {
	sl := sp.slates.wait(sp.shape, silenceWait)
	if sl == nil {
		return errors.New("no slate to take silence from")
	}
	sp.silence, sp.silenceN = sl, 0
	return sp.writeAudio(tag{typ: tagAudio, ts: max(ts, int64(sp.audioEnd)), body: sl.audioConfig.body}, sl.audioMS)
}

// audioFrameMS is the duration of the AAC frames (1024 samples) a
// sequence header announces; 48 kHz when it cannot be read.
func audioFrameMS(config *tag) float64 {
	rate, _, ok := aacFormat(config)
	if !ok {
		rate = 48000
	}
	return 1024 * 1000 / float64(rate)
}

// live writes one of the live publisher's tags on the timeline.
func (sp *splice) live(t tag) error {
	pubTS := t.ts
	t.ts += sp.offset
	switch {
	case t.typ == tagVideo && sp.pol.audioOnly:
		return nil
	case t.typ == tagVideo && t.isAVC():
		if err := sp.writeVideo(t); err != nil {
			return err
		}
		if sp.trace && !t.isVideoConfig() {
			traceTag(sp.log, pubTS, sp.lastDTS, t.arrived)
		}
		sp.liveWall = time.Now()
		if !sp.pubAudio && !t.isVideoConfig() {
			return sp.fillSilence(sp.silence, sp.lastDTS)
		}
	case t.isAudioConfig():
		sp.pubAudio, sp.silence = true, nil
		return sp.writeAudio(t, audioFrameMS(&t))
	case t.typ == tagAudio && t.isAAC() && sp.pubAudio:
		if float64(t.ts) < sp.audioEnd-sp.audioMS/2 {
			return nil // overlaps what was written before the switch
		}
		return sp.writeAudio(t, sp.audioMS)
	}
	return nil
}

// lose switches to the repeated last frame and the slate. It returns false
// when there is nothing to switch to (a reconnect window of 0, or no slate
// could be made): the run should end.
func (sp *splice) lose(now time.Time) (bool, error) {
	sp.src = nil
	if sp.pol.window <= 0 {
		return false, nil
	}
	sl := sp.slates.wait(sp.shape, 2*time.Second)
	if sl == nil {
		return false, errors.New("no slate ready")
	}
	sp.lostAt, sp.slate, sp.slateN = now, sl, 0
	if sp.pol.audioOnly {
		return true, sp.loseAudio(now)
	}
	sp.slateFrom = sp.lastPTS + int64(math.Round(sl.frameMS)) + sp.pol.repeat.Milliseconds()
	sp.lead = max(0, time.Duration(sp.slateFrom-sp.lastPTS)*time.Millisecond-now.Sub(sp.liveWall))
	if err := sp.writeVideo(tag{typ: tagVideo, ts: sp.slateFrom, body: sl.videoConfig.body}); err != nil {
		return true, err
	}
	sp.silence, sp.silenceN = sl, 0
	if err := sp.writeAudio(tag{typ: tagAudio, ts: int64(sp.audioEnd), body: sl.audioConfig.body}, sl.audioMS); err != nil {
		return true, err
	}
	return true, sp.slateDue(now)
}

// loseAudio starts the silence of an audio-only job's lost input.
func (sp *splice) loseAudio(now time.Time) error {
	sp.slateFrom = int64(math.Ceil(sp.audioEnd))
	sp.silence, sp.silenceN = sp.slate, 0
	if err := sp.writeAudio(tag{typ: tagAudio, ts: int64(sp.audioEnd), body: sp.slate.audioConfig.body}, sp.slate.audioMS); err != nil {
		return err
	}
	return sp.slateDue(now)
}

// slateDue writes the slate frames due by now (the first at once), each
// with the silence up to it; for an audio-only job, the silence due.
func (sp *splice) slateDue(now time.Time) error {
	sl := sp.slate
	if sp.pol.audioOnly {
		return sp.fillSilence(sl, sp.slateFrom+now.Sub(sp.lostAt).Milliseconds())
	}
	for {
		at := float64(sp.slateN) * sl.frameMS
		if sp.slateN > 0 && sp.slateDueAt(at).After(now) {
			return nil
		}
		f := sl.video[sp.slateN%len(sl.video)]
		f.ts = sp.slateFrom + int64(math.Round(at))
		if err := sp.writeVideo(f); err != nil {
			return err
		}
		sp.slateN++
		if err := sp.fillSilence(sl, f.ts); err != nil {
			return err
		}
	}
}

// slateDueAt is when the slate frame at ms into the slate is due: in real
// time after the loss, plus a tenth of it while there is lead to absorb.
func (sp *splice) slateDueAt(ms float64) time.Time {
	d := time.Duration(ms * float64(time.Millisecond))
	return sp.lostAt.Add(d + min(d/10, sp.lead))
}

// fillSilence writes silent frames from sl until the audio reaches ts.
func (sp *splice) fillSilence(sl *slate, ts int64) error {
	if sl == nil {
		return nil
	}
	for sp.audioEnd <= float64(ts) {
		f := sl.silence[sp.silenceN%len(sl.silence)]
		sp.silenceN++
		start := sp.audioEnd
		f.ts = int64(math.Round(start))
		if err := sp.writeAudio(f, sl.audioMS); err != nil {
			return err
		}
		sp.audioEnd = start + sl.audioMS // exact: no rounding drift
	}
	return nil
}

// writeVideo writes a video tag, its decoding time kept increasing.
func (sp *splice) writeVideo(t tag) error {
	if sp.wrote && t.ts <= sp.lastDTS && !t.isVideoConfig() {
		t.ts = sp.lastDTS + 1
	}
	t.ts = max(t.ts, 0)
	if err := sp.w.write(t); err != nil {
		return err
	}
	if !t.isVideoConfig() {
		sp.lastDTS = t.ts
		sp.lastPTS = max(sp.lastPTS, t.ts+t.compositionOffset())
	}
	if !sp.wrote {
		sp.audioEnd = float64(t.ts)
	}
	sp.wrote = true
	return nil
}

// writeAudio writes an audio tag of frames frameMS long.
func (sp *splice) writeAudio(t tag, frameMS float64) error {
	t.ts = max(t.ts, 0)
	if err := sp.w.write(t); err != nil {
		return err
	}
	sp.audioMS = frameMS
	if !t.isAudioConfig() {
		sp.audioEnd = float64(t.ts) + frameMS
	}
	sp.wrote = true
	return nil
}
