package llhls

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Part is one partial segment: a byte range of its segment's file.
type Part struct {
	Offset, Length int64
	Duration       float64 // seconds
	Independent    bool
}

// segment is one media segment of a playlist, complete or in progress.
type segment struct {
	uri, init     string
	discontinuity bool
	pdt           time.Time // zero until its first part
	parts         []Part
	complete      bool
	// atOrigin: the origin follows the segment's upload, so a player may
	// ask for its next part before it exists (EXT-X-PRELOAD-HINT).
	atOrigin bool
	// listed is its lines once it is complete and listed without its
	// parts; they cannot change while it has a segment before it. A DVR
	// window lists thousands of such segments on every part.
	listed string
}

func (s *segment) duration() float64 {
	var d float64
	for _, p := range s.parts {
		d += p.Duration
	}
	return d
}

// end is the offset where the segment's next part starts.
func (s *segment) end() int64 {
	if len(s.parts) == 0 {
		return 0
	}
	last := s.parts[len(s.parts)-1]
	return last.Offset + last.Length
}

// Playlist is one LL-HLS media playlist: a live window of complete
// segments, each with its parts while it is recent, then the segment being
// uploaded, its parts so far and a preload hint for its next part. It is
// not safe for concurrent use.
type Playlist struct {
	targetDuration int
	partTarget     float64
	window         int

	firstMSN int64      // media sequence number of segs[0]
	discSeq  int64      // discontinuities dropped from the head
	segs     []*segment // complete ones first, then those in progress
	// ending: the encoder ended the stream; once the segments still in
	// progress are settled, the playlist is closed with #EXT-X-ENDLIST.
	ending   bool
	rendered int // the last Render's length, to allocate the next at once
}

// NewPlaylist returns an empty playlist. Its first segment gets media
// sequence number firstMSN; targetDuration (whole seconds) and partTarget
// are fixed for the playlist's life, as HLS requires; window is how many
// complete segments it lists.
func NewPlaylist(firstMSN int64, targetDuration int, partTarget float64, window int) *Playlist {
	return &Playlist{firstMSN: firstMSN, targetDuration: max(1, targetDuration), partTarget: partTarget, window: max(1, window)}
}

// Begin adds a segment whose upload started. init is its initialisation
// segment; discontinuity marks a segment that does not continue the one
// before it (a new encoder run).
func (p *Playlist) Begin(uri, init string, discontinuity bool) {
	p.segs = append(p.segs, &segment{uri: uri, init: init, discontinuity: discontinuity})
}

// AtOrigin records that players can follow uri's upload at the origin.
func (p *Playlist) AtOrigin(uri string) {
	if s := p.inProgress(uri); s != nil {
		s.atOrigin = true
	}
}

// AddPart appends a completed part to segment uri. pdt is the wall-clock
// time of the part's first sample; the segment's first part dates it.
func (p *Playlist) AddPart(uri string, part Part, pdt time.Time) {
	s := p.inProgress(uri)
	if s == nil {
		return
	}
	if len(s.parts) == 0 {
		s.pdt = pdt
	}
	s.parts = append(s.parts, part)
	s.atOrigin = true // its bytes are there
}

// Complete marks segment uri whole. A segment with no parts (its chunks
// could not be read) is dropped, and the next one marked discontinuous.
func (p *Playlist) Complete(uri string) {
	s := p.inProgress(uri)
	if s == nil {
		return
	}
	if len(s.parts) == 0 {
		p.Abort(uri)
		return
	}
	s.complete = true
	if d := int(math.Round(s.duration())); d > p.targetDuration {
		p.targetDuration = d // never lie about a longer segment
	}
	p.trim()
}

// Abort drops segment uri, whose upload failed: the origin has no such
// file. The segment after it starts a discontinuity.
func (p *Playlist) Abort(uri string) {
	for i, s := range p.segs {
		if s.uri == uri && !s.complete {
			p.segs = append(p.segs[:i], p.segs[i+1:]...)
			if i < len(p.segs) {
				p.segs[i].discontinuity = true
			}
			return
		}
	}
}

// End closes the playlist with #EXT-X-ENDLIST once the segments still in
// progress are complete or aborted, including any that begins after End:
// the encoder may open its last segment's upload just before it ends the
// stream, and the two requests can arrive in either order. Reopen undoes
// End.
func (p *Playlist) End() { p.ending = true }

// Reopen takes back End: a new encoder run continues the stream.
func (p *Playlist) Reopen() { p.ending = false }

// Ended reports whether the playlist is closed.
func (p *Playlist) Ended() bool { return p.ending && p.completeCount() == len(p.segs) }

// Ready reports whether the playlist lists anything a player can fetch.
func (p *Playlist) Ready() bool {
	for _, s := range p.segs {
		if len(s.parts) > 0 {
			return true
		}
	}
	return false
}

func (p *Playlist) inProgress(uri string) *segment {
	for _, s := range p.segs {
		if s.uri == uri && !s.complete {
			return s
		}
	}
	return nil
}

// completeCount is the number of leading complete segments.
func (p *Playlist) completeCount() int {
	for i, s := range p.segs {
		if !s.complete {
			return i
		}
	}
	return len(p.segs)
}

// trim keeps the last window complete segments.
func (p *Playlist) trim() {
	for p.completeCount() > p.window {
		if p.segs[1].discontinuity {
			p.discSeq++
		}
		p.segs = p.segs[1:]
		p.firstMSN++
	}
}

// partHoldBack is how far behind the live edge LL-HLS players stay, in
// part targets: the RFC's minimum is two, three is what it recommends.
const partHoldBack = 3

// Report is an EXT-X-RENDITION-REPORT: where another rendition's playlist
// of the same presentation ends, so a player switching to it can ask for
// its next part at once.
type Report struct {
	URI      string
	LastMSN  int64
	LastPart int
}

// LastPart is the media sequence number and index of the last part the
// playlist lists; ok is false when it lists none.
func (p *Playlist) LastPart() (msn int64, part int, ok bool) {
	for i := len(p.segs) - 1; i >= 0; i-- {
		if n := len(p.segs[i].parts); n > 0 && (p.segs[i].complete || i == p.completeCount()) {
			return p.firstMSN + int64(i), n - 1, true
		}
	}
	return 0, 0, false
}

// Render writes the playlist as RFC 8216bis text, ending with reports of
// the other renditions while it is live.
func (p *Playlist) Render(reports ...Report) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", p.targetDuration)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%s\n", seconds(p.partTarget))
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%s,HOLD-BACK=%d\n",
		seconds(partHoldBack*p.partTarget), 3*p.targetDuration)
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", p.firstMSN)
	fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", p.discSeq)
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	complete := p.completeCount()
	withParts := p.firstWithParts(complete)
	b.Grow(p.rendered)
	init := ""
	for i, s := range p.segs[:complete] {
		switch {
		case i >= withParts:
			p.segmentHead(&b, s, init, i)
			writeParts(&b, s)
			writeInf(&b, s)
		case i == 0:
			p.segmentHead(&b, s, init, i)
			writeInf(&b, s)
		default:
			if s.listed == "" {
				var sb strings.Builder
				p.segmentHead(&sb, s, init, i)
				writeInf(&sb, s)
				s.listed = sb.String()
			}
			b.WriteString(s.listed)
		}
		init = s.init
	}
	defer func() { p.rendered = b.Len() }()
	if p.Ended() {
		b.WriteString("#EXT-X-ENDLIST\n")
		return []byte(b.String())
	}
	if complete < len(p.segs) {
		s := p.segs[complete]
		p.segmentHead(&b, s, init, complete)
		writeParts(&b, s)
		if s.atOrigin {
			fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=%q,BYTERANGE-START=%d\n", s.uri, s.end())
		}
	}
	for _, r := range reports {
		fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=%q,LAST-MSN=%d,LAST-PART=%d\n", r.URI, r.LastMSN, r.LastPart)
	}
	return []byte(b.String())
}

// firstWithParts is the index of the first complete segment whose parts
// are listed: those ending within three target durations of the live edge,
// as the RFC asks; older ones are listed whole only.
func (p *Playlist) firstWithParts(complete int) int {
	var age float64
	for i := complete - 1; i >= 0; i-- {
		age += p.segs[i].duration()
		if age > 3*float64(p.targetDuration) {
			return i + 1
		}
	}
	return 0
}

// segmentHead writes the tags before a segment's parts: a discontinuity,
// its initialisation segment when it differs from the one before (prev),
// and its date.
func (p *Playlist) segmentHead(b *strings.Builder, s *segment, prev string, i int) {
	if s.discontinuity && i > 0 {
		b.WriteString("#EXT-X-DISCONTINUITY\n")
	}
	if s.init != prev {
		fmt.Fprintf(b, "#EXT-X-MAP:URI=%q\n", s.init)
	}
	if !s.pdt.IsZero() {
		fmt.Fprintf(b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", s.pdt.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
}

func writeInf(b *strings.Builder, s *segment) {
	fmt.Fprintf(b, "#EXTINF:%s,\n%s\n", seconds(s.duration()), s.uri)
}

func writeParts(b *strings.Builder, s *segment) {
	for _, part := range s.parts {
		fmt.Fprintf(b, "#EXT-X-PART:DURATION=%s,URI=%q,BYTERANGE=\"%d@%d\"", seconds(part.Duration), s.uri, part.Length, part.Offset)
		if part.Independent {
			b.WriteString(",INDEPENDENT=YES")
		}
		b.WriteByte('\n')
	}
}

// seconds formats a duration in seconds with up to five decimals.
func seconds(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.5f", f), "0"), ".")
}
