package llhls

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config configures a Packager.
type Config struct {
	// TargetDuration is the segment duration rounded to whole seconds;
	// PartTarget the longest part, in seconds.
	TargetDuration int
	PartTarget     float64
	// Window is how many complete segments each playlist lists.
	Window int
	// FirstMSN numbers the first segment of every playlist. Use the Unix
	// time at start: with segments of a second or more, a later
	// transcoder's numbers then never fall below an earlier one's.
	FirstMSN int64
	// Publish is called with each new version of a playlist, in order per
	// playlist, while the Packager's lock is held: it must not call back.
	Publish func(name string, body []byte)
	Now     func() time.Time // time.Now when nil
	Logger  *slog.Logger
}

// Packager keeps the LL-HLS media playlists of one job's renditions up to
// date as their segments are uploaded: each chunk that arrives becomes a
// part, and each change is published. It is safe for concurrent use; the
// uploads of one rendition must be reported in the order they start.
type Packager struct {
	cfg Config

	mu         sync.Mutex
	renditions map[string]*rendition // by playlist name
	anchors    map[string]time.Time  // per encoder run: the wall clock at media time 0
}

type rendition struct {
	pl  *Playlist
	run string // the encoder run of the latest segment
	// tracks are read from the initialisation segments, by URI: the
	// current run's and the one before, whose segments may still arrive.
	tracks     map[string]Track
	latestInit string
}

// NewPackager returns a Packager; cfg.Publish is required.
func NewPackager(cfg Config) *Packager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Packager{cfg: cfg, renditions: map[string]*rendition{}, anchors: map[string]time.Time{}}
}

// Upload follows one file's upload. Write takes its bytes as they are
// passed on to the origin; Close ends it.
type Upload interface {
	Write(p []byte) (int, error)
	// AtOrigin: the origin has taken the upload and serves it to readers
	// as it grows, so players may be told to ask for what comes next.
	AtOrigin()
	// Close ends the upload; ok means the origin stored it whole.
	Close(ok bool)
}

// maxInitSize bounds an initialisation segment held to be read.
const maxInitSize = 1 << 20

// Init follows the upload of initialisation segment uri of the playlist
// named playlist.
func (p *Packager) Init(playlist, uri string) Upload {
	return &initUpload{p: p, playlist: playlist, uri: uri}
}

// Segment follows the upload of media segment uri of playlist, made by
// encoder run run (a new run starts a discontinuity) and initialised by
// init.
func (p *Packager) Segment(playlist, run, init, uri string) Upload {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rendition(playlist)
	newRun := r.run != run
	if newRun {
		r.pl.Reopen() // the end was the previous run's: a publisher reconnected
	}
	r.pl.Begin(uri, init, newRun && len(r.pl.segs) > 0)
	r.run = run
	return &segmentUpload{p: p, playlist: playlist, run: run, init: init, uri: uri, scan: NewScanner(r.tracks[init])}
}

// End closes playlist with #EXT-X-ENDLIST: the encoder ended the stream.
func (p *Packager) End(playlist string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rendition(playlist)
	r.pl.End()
	p.publishLocked(playlist, r)
}

func (p *Packager) rendition(playlist string) *rendition {
	r := p.renditions[playlist]
	if r == nil {
		r = &rendition{
			pl:     NewPlaylist(p.cfg.FirstMSN, p.cfg.TargetDuration, p.cfg.PartTarget, p.cfg.Window),
			tracks: map[string]Track{},
		}
		p.renditions[playlist] = r
	}
	return r
}

func (p *Packager) publishLocked(playlist string, r *rendition) {
	if r.pl.Ready() || r.pl.Ended() {
		p.cfg.Publish(playlist, r.pl.Render(p.reportsLocked(playlist)...))
	}
}

// reportsLocked reports where every rendition but playlist ends, in name
// order.
func (p *Packager) reportsLocked(playlist string) []Report {
	var reports []Report
	for name, r := range p.renditions {
		if msn, part, ok := r.pl.LastPart(); ok && name != playlist {
			reports = append(reports, Report{URI: name, LastMSN: msn, LastPart: part})
		}
	}
	slices.SortFunc(reports, func(a, b Report) int { return strings.Compare(a.URI, b.URI) })
	return reports
}

// partDate is the wall-clock time of media time start (seconds) in run.
// The run's first dated part fixes its anchor, for every rendition, from
// its chunk's producer reference time (prft): the encoder's wall clock at a
// media time; a chunk without a usable prft anchors the run by the time it
// arrived minus its end. The anchor never moves: a later, earlier mapping
// (the burst after the input probe, or a publisher's return after an input
// loss) would date the parts after it earlier than those listed before, so
// a rendition's segments would overlap and the renditions disagree, and
// Shaka, which places LL-HLS segments by date, stalls on that. The price:
// the first chunk leaves the encoder after the input probe, so the dates
// may be late by up to that probe, and latency read from them low.
func (p *Packager) partDate(run string, start, end float64, c Chunk, timescale float64) time.Time {
	at, ok := p.anchors[run]
	if !ok {
		at = p.cfg.Now().Add(-seconds2duration(end))
		if producedInChunk(c, timescale) {
			at = c.Produced.Add(-seconds2duration(float64(c.ProducedAt) / timescale))
		}
		p.anchors[run] = at
	}
	return at.Add(seconds2duration(start))
}

// producedInChunk: the chunk has a producer reference time for a media time
// within a second of the chunk. Under load (with ffmpeg's "pts has no
// value" warnings) players were seen dating the stream about 2^63 ns back:
// a prft media time far outside its chunk, which must not anchor the run.
func producedInChunk(c Chunk, timescale float64) bool {
	if c.Produced.IsZero() {
		return false
	}
	at, from := float64(c.ProducedAt), float64(c.DecodeTime)
	return at >= from-timescale && at <= from+float64(c.Duration)+timescale
}

func seconds2duration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

type initUpload struct {
	p                  *Packager
	playlist, run, uri string
	data               []byte
	tooLarge           bool
}

func (u *initUpload) Write(b []byte) (int, error) {
	if len(u.data)+len(b) > maxInitSize {
		u.tooLarge = true
	} else {
		u.data = append(u.data, b...)
	}
	return len(b), nil
}

func (u *initUpload) AtOrigin() {}

func (u *initUpload) Close(ok bool) {
	if !ok {
		return
	}
	t, err := ParseInit(u.data)
	if u.tooLarge {
		err = errors.New("larger than 1 MiB")
	}
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	if err != nil {
		u.p.cfg.Logger.Warn("LL-HLS: cannot read an initialisation segment; its segments get no parts", "file", u.uri, "err", err)
		return
	}
	r := u.p.rendition(u.playlist)
	r.tracks = map[string]Track{r.latestInit: r.tracks[r.latestInit], u.uri: t}
	r.latestInit = u.uri
}

type segmentUpload struct {
	p                        *Packager
	playlist, run, init, uri string
	warned                   bool

	scanMu sync.Mutex // Close may run while the last Write does
	scan   *Scanner
}

func (u *segmentUpload) Write(b []byte) (int, error) {
	u.scanMu.Lock()
	_, _ = u.scan.Write(b)
	chunks := u.scan.Chunks()
	u.scanMu.Unlock()
	if len(chunks) == 0 {
		return len(b), nil
	}
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	r := u.p.rendition(u.playlist)
	ts := float64(r.tracks[u.init].Timescale)
	if ts == 0 {
		if !u.warned {
			u.warned = true
			u.p.cfg.Logger.Warn("LL-HLS: a segment's chunks arrived before its initialisation segment; it gets no parts", "file", u.uri)
		}
		return len(b), nil
	}
	for _, c := range chunks {
		start := float64(c.DecodeTime) / ts
		dur := float64(c.Duration) / ts
		part := Part{Offset: c.Offset, Length: c.Length, Duration: dur, Independent: c.Independent}
		r.pl.AddPart(u.uri, part, u.p.partDate(u.run, start, start+dur, c, ts))
	}
	u.p.publishLocked(u.playlist, r)
	return len(b), nil
}

func (u *segmentUpload) AtOrigin() {
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	r := u.p.rendition(u.playlist)
	if s := r.pl.inProgress(u.uri); s != nil && !s.atOrigin {
		r.pl.AtOrigin(u.uri)
		u.p.publishLocked(u.playlist, r)
	}
}

func (u *segmentUpload) Close(ok bool) {
	u.scanMu.Lock()
	err := u.scan.Err()
	u.scanMu.Unlock()
	if err != nil && ok {
		u.p.cfg.Logger.Warn("LL-HLS: cannot read a segment's chunks", "file", u.uri, "err", err)
	}
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	r := u.p.rendition(u.playlist)
	if ok {
		r.pl.Complete(u.uri)
	} else {
		r.pl.Abort(u.uri)
	}
	u.p.publishLocked(u.playlist, r)
}
