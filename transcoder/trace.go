package transcoder

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/llhls"
)

// The latency trace: with its logger at debug level the transcoder logs,
// on the machine's wall clock, when each of the publisher's video frames
// arrived and was written to ffmpeg, and when each CMAF chunk of ffmpeg's
// dash-muxer outputs had left ffmpeg, with the chunk's media time. With
// the testfeed's, the gateway's and the origin's traces, that tells where
// a frame's time goes (bench/latency). Off, it costs one Enabled check per
// frame and per upload.

// traceEnabled reports whether log takes debug records.
func traceEnabled(log *slog.Logger) bool { return log.Enabled(context.Background(), slog.LevelDebug) }

// traceTag logs a live video frame written to ffmpeg: its timestamp from
// the publisher, its timestamp on the run's timeline (the outputs' media
// time, in ms), when it arrived from the publisher and when ffmpeg's input
// took it.
func traceTag(log *slog.Logger, pubTS, ts int64, arrived time.Time) {
	log.Debug("trace: video frame to ffmpeg", "pub_ts", pubTS, "ts", ts,
		"arrived_ms", arrived.UnixMilli(), "written_ms", time.Now().UnixMilli())
}

// chunkTrace follows ffmpeg's fMP4 uploads to the relay: the tracks of the
// initialisation segments, then the chunks of each media segment as their
// last bytes arrive.
type chunkTrace struct {
	log    *slog.Logger
	mu     sync.Mutex
	tracks map[string]llhls.Track // by init segment name
}

func newChunkTrace(log *slog.Logger) *chunkTrace {
	return &chunkTrace{log: log, tracks: map[string]llhls.Track{}}
}

// body wraps the body of ffmpeg's upload of name, when it is a dash-muxer
// file; other bodies are returned as they are.
func (ct *chunkTrace) body(name string, body io.ReadCloser) io.ReadCloser {
	f, ok := ffmpeg.ParseDASHFile(name)
	if !ok {
		return body
	}
	init := ffmpeg.DASHInitName(f.Run, f.Representation)
	if f.Init {
		return &initTrace{ReadCloser: body, ct: ct, name: init}
	}
	return &segmentTrace{ReadCloser: body, ct: ct, name: name, init: init}
}

func (ct *chunkTrace) track(init string) (llhls.Track, bool) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	t, ok := ct.tracks[init]
	return t, ok
}

// initTrace keeps the initialisation segment and reads its track at the end.
type initTrace struct {
	io.ReadCloser
	ct   *chunkTrace
	name string
	b    []byte
}

func (t *initTrace) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.b = append(t.b, p[:n]...)
	if err == io.EOF {
		if track, perr := llhls.ParseInit(t.b); perr == nil {
			t.ct.mu.Lock()
			t.ct.tracks[t.name] = track
			t.ct.mu.Unlock()
		}
	}
	return n, err
}

// segmentTrace logs each chunk of a media segment once its last byte is
// read. ffmpeg may write a segment's first bytes before its init segment
// (without -streaming it writes the init segment after the first media
// segment's header): those are kept, with when they came, until the init
// segment is known, or dropped with the upload if it never is.
type segmentTrace struct {
	io.ReadCloser
	ct    *chunkTrace
	name  string
	init  string
	track llhls.Track
	scan  *llhls.Scanner // nil until the track is known
	early []piece
}

type piece struct {
	b  []byte
	at time.Time
}

func (t *segmentTrace) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	now := time.Now()
	if t.scan != nil {
		t.scanned(p[:n], now)
		return n, err
	}
	t.early = append(t.early, piece{bytes.Clone(p[:n]), now})
	if track, ok := t.ct.track(t.init); ok {
		t.track, t.scan = track, llhls.NewScanner(track)
		for _, e := range t.early {
			t.scanned(e.b, e.at)
		}
		t.early = nil
	}
	return n, err
}

// scanned takes bytes that arrived at, and logs the chunks they complete.
func (t *segmentTrace) scanned(b []byte, at time.Time) {
	_, _ = t.scan.Write(b)
	for _, c := range t.scan.Chunks() {
		t.ct.log.Debug("trace: chunk from ffmpeg", traceChunk(t.name, t.track, c, at)...)
	}
}

// traceChunk is the record of chunk c of file name, whose last byte
// arrived at: where it is in its file, its media time (when its first
// sample is presented, on the timeline of ffmpeg's input), its duration
// and its samples' mean duration (a video frame's) in seconds.
func traceChunk(name string, track llhls.Track, c llhls.Chunk, at time.Time) []any {
	scale := float64(track.Timescale)
	return []any{"file", name, "video", track.Video, "offset", c.Offset, "end", c.Offset + c.Length,
		"start", float64(int64(c.DecodeTime)+c.FirstPresented-track.Delay) / scale, "duration", float64(c.Duration) / scale,
		"sample", float64(c.Duration) / float64(max(1, c.Samples)) / scale, "at_ms", at.UnixMilli()}
}
