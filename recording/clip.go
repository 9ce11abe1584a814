package recording

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrEmptyClip is returned when no stored segment overlaps a clip's span.
var ErrEmptyClip = errors.New("recording: no segment in the clip's span")

// Span is a clip's cut: whole segments, so it starts at or before the
// asked start and ends at or after the asked end.
type Span struct {
	Start, End        time.Time // the program date-times of the cut
	First, Last       int64     // segment numbers, inclusive
	FirstURI, LastURI string
}

// Cut keeps the segments of p that overlap [start, end): from the one
// start falls in to the one end falls in (the nearest boundaries outside
// the span, so nothing asked for is left out). p's segments need
// program date-times.
func Cut(p Playlist, start, end time.Time) (Playlist, Span, error) {
	out := Playlist{Version: p.Version}
	var span Span
	for _, s := range p.Segments {
		if s.Time.IsZero() {
			return out, span, errors.New("recording: the playlist has no program date-times")
		}
		segEnd := s.Time.Add(time.Duration(s.Duration * float64(time.Second)))
		if !segEnd.After(start) || !s.Time.Before(end) {
			continue
		}
		if len(out.Segments) == 0 {
			span.Start, span.FirstURI = s.Time, s.URI
			span.First, _ = segmentNumber(s.URI)
		}
		out.Segments = append(out.Segments, s)
		span.End, span.LastURI = segEnd, s.URI
		span.Last, _ = segmentNumber(s.URI)
	}
	if len(out.Segments) == 0 {
		return out, span, ErrEmptyClip
	}
	return out, span, nil
}

// CutNumbers keeps the segments of p numbered first to last; a clip's
// other renditions are cut at the numbers of the first one's Span (the
// dash muxer numbers every representation alike).
func CutNumbers(p Playlist, first, last int64) Playlist {
	out := Playlist{Version: p.Version}
	for _, s := range p.Segments {
		if n, ok := segmentNumber(s.URI); ok && n >= first && n <= last {
			out.Segments = append(out.Segments, s)
		}
	}
	return out
}

// CutMPD keeps the segments numbered first to last of every representation.
func CutMPD(m *MPD, first, last int64) *MPD {
	out := &MPD{root: m.root, Timelines: map[string]*Timeline{}}
	for id, tl := range m.Timelines {
		c := *tl
		c.Segments = nil
		for _, s := range tl.Segments {
			if s.Number >= first && s.Number <= last {
				c.Segments = append(c.Segments, s)
			}
		}
		out.Timelines[id] = &c
	}
	return out
}

// LiveEdge is the end of p's last segment: where "seconds back from the
// live edge" count from.
func LiveEdge(p Playlist) time.Time {
	if n := len(p.Segments); n > 0 {
		s := p.Segments[n-1]
		return s.Time.Add(time.Duration(s.Duration * float64(time.Second)))
	}
	return time.Time{}
}

// CutMPDTime keeps, of every representation, the segments that overlap
// [from, to), offsets from the start of m's first segment, in whole
// milliseconds (a clip's span is named in them: ClipName). The comparison
// is exact, in ticks times 1000, so a span that starts where a segment
// ends never takes that segment by a rounding.
func CutMPDTime(m *MPD, from, to time.Duration) *MPD {
	fromMs, toMs := from.Milliseconds(), to.Milliseconds()
	out := &MPD{root: m.root, Timelines: map[string]*Timeline{}}
	for id, tl := range m.Timelines {
		c := *tl
		c.Segments = nil
		if len(tl.Segments) > 0 && tl.Timescale > 0 {
			origin, scale := tl.Segments[0].Time, int64(tl.Timescale)
			for _, s := range tl.Segments {
				start := int64(s.Time-origin) * 1000 // ms × timescale
				end := start + int64(s.Duration)*1000
				if end > fromMs*scale && start < toMs*scale {
					c.Segments = append(c.Segments, s)
				}
			}
		}
		out.Timelines[id] = &c
	}
	return out
}

// ClipsFolder is the folder, in a recording's, whose files are the clips
// the origin cuts when asked: ClipsFolder/<from>-<to>/<file of the
// recording>, the span in Unix milliseconds of program date-time.
const ClipsFolder = "clips"

// ClipPrefix leads a clip's segment URIs back to the job folder.
const ClipPrefix = "../../../../"

// ClipName is the folder name of the clip of [from, to).
func ClipName(from, to time.Time) string {
	return strconv.FormatInt(from.UnixMilli(), 10) + "-" + strconv.FormatInt(to.UnixMilli(), 10)
}

// ParseClipName reads ClipName's form; ok is false for anything else or
// an empty span.
func ParseClipName(name string) (from, to time.Time, ok bool) {
	a, b, found := strings.Cut(name, "-")
	f, err1 := strconv.ParseInt(a, 10, 64)
	t, err2 := strconv.ParseInt(b, 10, 64)
	if !found || err1 != nil || err2 != nil || f < 0 || t <= f {
		return time.Time{}, time.Time{}, false
	}
	return time.UnixMilli(f).UTC(), time.UnixMilli(t).UTC(), true
}
