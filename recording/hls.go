// Package recording keeps what a live job streamed: it accumulates each
// run's segments from the live manifests the origin receives (HLS media
// playlists and DASH MPDs) into an append-only index, renders that index
// as a VOD HLS playlist or a static MPD over the segments already stored
// (no re-encode), and cuts clips out of it at segment boundaries. It is
// pure: no I/O; the origin stores what it renders (docs/DESIGN.md,
// "Recordings and clips").
//
// A run is one ffmpeg run (ffmpeg.RunOf: the g<generation>p<period> in
// every segment name), so a resumed or restarted job starts a new
// recording and runs never share a segment.
package recording

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
)

// Segment is one media segment of an HLS rendition.
type Segment struct {
	URI      string    // relative to the job folder, as the live playlist names it
	Map      string    // its EXT-X-MAP URI (fmp4), "" for mpegts
	Duration float64   // seconds (EXTINF)
	Time     time.Time // EXT-X-PROGRAM-DATE-TIME; zero when the playlist has none
}

// Playlist is an HLS media playlist reduced to what a recording keeps.
type Playlist struct {
	Version  int
	Segments []Segment
}

// IsMediaPlaylist reports whether b is an HLS media playlist (not a master).
func IsMediaPlaylist(b []byte) bool {
	return bytes.HasPrefix(b, []byte("#EXTM3U")) && bytes.Contains(b, []byte("#EXTINF:")) &&
		!bytes.Contains(b, []byte("#EXT-X-STREAM-INF:"))
}

// ParseHLS reads the complete segments of a media playlist; prefix is cut
// from every URI (the one Render added). Parts and hints are skipped.
func ParseHLS(b []byte, prefix string) (Playlist, error) {
	var p Playlist
	var cur Segment
	inSegment := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 0; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if line == 0 && text != "#EXTM3U" {
			return p, fmt.Errorf("recording: not an M3U playlist")
		}
		var err error
		switch {
		case text == "" || strings.HasPrefix(text, "#") && !strings.HasPrefix(text, "#EXT"):
		case !strings.HasPrefix(text, "#"):
			if inSegment {
				cur.URI = strings.TrimPrefix(text, prefix)
				p.Segments = append(p.Segments, cur)
				cur = Segment{Map: cur.Map}
				inSegment = false
			}
		case strings.HasPrefix(text, "#EXT-X-VERSION:"):
			p.Version, err = strconv.Atoi(text[len("#EXT-X-VERSION:"):])
		case strings.HasPrefix(text, "#EXT-X-MAP:"):
			cur.Map, err = mapURI(text[len("#EXT-X-MAP:"):])
			cur.Map = strings.TrimPrefix(cur.Map, prefix)
		case strings.HasPrefix(text, "#EXTINF:"):
			d, _, _ := strings.Cut(text[len("#EXTINF:"):], ",")
			cur.Duration, err = strconv.ParseFloat(d, 64)
			inSegment = true
		case strings.HasPrefix(text, "#EXT-X-PROGRAM-DATE-TIME:"):
			cur.Time, err = parsePDT(text[len("#EXT-X-PROGRAM-DATE-TIME:"):])
		}
		if err != nil {
			return p, fmt.Errorf("recording: playlist line %d %q: %w", line+1, text, err)
		}
	}
	return p, sc.Err()
}

// parsePDT reads an ISO 8601 date-time; ffmpeg writes the zone as +0000.
func parsePDT(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date-time %q", s)
}

func mapURI(attrs string) (string, error) {
	_, rest, ok := strings.Cut(attrs, `URI="`)
	uri, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || uri == "" {
		return "", fmt.Errorf("EXT-X-MAP without URI")
	}
	return uri, nil
}

// Append adds to rec the segments of live that belong to run and come
// after rec's last one (segment numbers grow within a run); it returns the
// new segments. The index only grows: a segment live no longer lists stays.
func Append(rec *Playlist, live Playlist, run string) []Segment {
	last := int64(-1)
	if n := len(rec.Segments); n > 0 {
		last, _ = segmentNumber(rec.Segments[n-1].URI)
	}
	before := len(rec.Segments)
	for _, s := range live.Segments {
		r, ok := ffmpeg.RunOf(s.URI)
		n, okN := segmentNumber(s.URI)
		if ok && okN && r == run && n > last {
			rec.Segments = append(rec.Segments, s)
			last = n
		}
	}
	if len(rec.Segments) > before {
		rec.Version = max(rec.Version, live.Version)
	}
	return rec.Segments[before:]
}

// segmentNumber is the number a segment name ends with.
func segmentNumber(uri string) (int64, bool) {
	stem := uri[:len(uri)-len(extOf(uri))]
	i := strings.LastIndexByte(stem, '-')
	n, err := strconv.ParseInt(stem[i+1:], 10, 64)
	return n, err == nil
}

func extOf(uri string) string {
	if i := strings.LastIndexByte(uri, '.'); i >= 0 {
		return uri[i:]
	}
	return ""
}

// Duration is the sum of the segments' durations, in seconds.
func (p Playlist) Duration() float64 {
	d := 0.0
	for _, s := range p.Segments {
		d += s.Duration
	}
	return d
}

// RenderHLS writes p as a VOD media playlist (EXT-X-PLAYLIST-TYPE:VOD,
// EXT-X-ENDLIST) whose URIs are prefix + the job-relative URI.
func RenderHLS(p Playlist, prefix string) []byte {
	var b bytes.Buffer
	target := 1.0
	for _, s := range p.Segments {
		target = max(target, math.Round(s.Duration))
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", max(p.Version, 3), int(target))
	b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	curMap := ""
	for i, s := range p.Segments {
		if i > 0 && s.Map != curMap {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.Map != "" && s.Map != curMap {
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s%s\"\n", prefix, s.Map)
		}
		curMap = s.Map
		if !s.Time.IsZero() {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", s.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		}
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s%s\n", s.Duration, prefix, s.URI)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.Bytes()
}

// Info is what is known of one recording: the origin keeps it beside the
// recording (InfoFile) and reports it to the store for listings.
type Info struct {
	Run      string    `json:"Run"`
	Started  time.Time `json:"Started"`  // when its first segment was indexed
	Updated  time.Time `json:"Updated"`  // when a segment was last indexed
	Duration float64   `json:"Duration"` // seconds: its longest rendition
	Bytes    int64     `json:"Bytes"`    // its segments and init segments, every rendition
	// Program_start and Program_end are the program date-times its
	// first segment starts and its last one ends, what clips cut by: its
	// HLS playlists' (EXT-X-PROGRAM-DATE-TIME), or for a recording with
	// only DASH, its live MPD's (availabilityStartTime and media time).
	Program_start time.Time `json:"Program_start,omitzero"`
	Program_end   time.Time `json:"Program_end,omitzero"`
	HLS           bool      `json:"Hls"`  // it has HLS playlists (HLSMaster)
	DASH          bool      `json:"Dash"` // it has a static MPD (DASHMaster)
}

// The files of a recording, in its folder.
const (
	InfoFile   = "info.json"
	HLSMaster  = "master.m3u8"
	DASHMaster = "master.mpd"
	// SegmentPrefix leads a recording's segment URIs back to the job
	// folder, two levels up (recordings/<run>/).
	SegmentPrefix = "../../"
)

// Span is the program date-times the recording covers, what clips are
// cut by: Program_start to Program_end; for a recording indexed before
// those were kept for DASH, from when its first segment was indexed, for
// its Duration, both to the millisecond as clips are named (ClipName).
func (i Info) Span() (start, end time.Time) {
	if !i.Program_start.IsZero() {
		return i.Program_start, i.Program_end
	}
	start = i.Started.Truncate(time.Millisecond)
	return start, start.Add(time.Duration(math.Round(i.Duration*1000)) * time.Millisecond)
}
