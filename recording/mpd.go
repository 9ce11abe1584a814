package recording

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
)

// node is one element of an MPD, kept whole so a rendered MPD carries
// every attribute and child of the live one it came from.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []*node    `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func (n *node) setAttr(name, value string) {
	for i, a := range n.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			n.Attrs[i].Value = value
			return
		}
	}
	n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

func (n *node) dropAttrs(names ...string) {
	kept := n.Attrs[:0]
	for _, a := range n.Attrs {
		drop := false
		for _, name := range names {
			drop = drop || a.Name.Space == "" && a.Name.Local == name
		}
		if !drop {
			kept = append(kept, a)
		}
	}
	n.Attrs = kept
}

func (n *node) child(name string) *node {
	for _, c := range n.Nodes {
		if c.XMLName.Local == name {
			return c
		}
	}
	return nil
}

// walk calls fn on every element below n named name.
func (n *node) walk(name string, fn func(parent, c *node)) {
	for _, c := range n.Nodes {
		if c.XMLName.Local == name {
			fn(n, c)
		}
		c.walk(name, fn)
	}
}

// DASHSegment is one media segment of a DASH representation.
type DASHSegment struct {
	Number   int64
	Time     uint64 // in the representation's timescale
	Duration uint64
}

// Timeline is a representation's segments and how to name them.
type Timeline struct {
	Timescale      uint64
	Initialization string // templates, as the live MPD writes them
	Media          string
	Segments       []DASHSegment
}

// MPD is a parsed MPD: the live one as received (the form a recording
// keeps) and each representation's timeline, by representation id.
type MPD struct {
	root      *node
	Timelines map[string]*Timeline
}

// ParseMPD reads an MPD; prefix is cut from template URIs (the one
// RenderMPD added). A representation with no SegmentTimeline (a
// low-latency MPD numbers segments by time) has no Timeline.
func ParseMPD(b []byte, prefix string) (*MPD, error) {
	root := &node{}
	if err := xml.Unmarshal(b, root); err != nil {
		return nil, fmt.Errorf("recording: parse MPD: %w", err)
	}
	if root.XMLName.Local != "MPD" {
		return nil, fmt.Errorf("recording: not an MPD: <%s>", root.XMLName.Local)
	}
	m := &MPD{root: root, Timelines: map[string]*Timeline{}}
	var err error
	root.walk("Representation", func(_, rep *node) {
		if tmpl := rep.child("SegmentTemplate"); tmpl != nil && err == nil {
			var tl *Timeline
			if tl, err = parseTemplate(tmpl, prefix); tl != nil {
				m.Timelines[rep.attr("id")] = tl
			}
		}
	})
	return m, err
}

func parseTemplate(tmpl *node, prefix string) (*Timeline, error) {
	st := tmpl.child("SegmentTimeline")
	if st == nil {
		return nil, nil
	}
	tl := &Timeline{Timescale: 1, Initialization: strings.TrimPrefix(tmpl.attr("initialization"), prefix),
		Media: strings.TrimPrefix(tmpl.attr("media"), prefix)}
	num, t := int64(1), uint64(0)
	var err error
	parse := func(s string, into any) {
		if s == "" || err != nil {
			return
		}
		switch p := into.(type) {
		case *uint64:
			*p, err = strconv.ParseUint(s, 10, 64)
		case *int64:
			*p, err = strconv.ParseInt(s, 10, 64)
		}
	}
	parse(tmpl.attr("timescale"), &tl.Timescale)
	parse(tmpl.attr("startNumber"), &num)
	for _, s := range st.Nodes {
		var d uint64
		r := int64(0)
		parse(s.attr("t"), &t)
		parse(s.attr("d"), &d)
		parse(s.attr("r"), &r)
		for i := int64(0); i <= r && err == nil; i++ {
			tl.Segments = append(tl.Segments, DASHSegment{Number: num, Time: t, Duration: d})
			num, t = num+1, t+d
		}
	}
	if err != nil {
		return nil, fmt.Errorf("recording: MPD SegmentTemplate: %w", err)
	}
	return tl, nil
}

// Run is the run whose segments the MPD names, from its first
// initialization template; ok is false when it names none.
func (m *MPD) Run() (string, bool) {
	for id, tl := range m.Timelines {
		return ffmpeg.RunOf(expand(tl.Initialization, id, 0))
	}
	return "", false
}

// AppendMPD adds to rec the segments of live that come after rec's last
// one, per representation (rec takes live's form when it has none). It
// returns the names of the files it added, init segments included.
func AppendMPD(rec, live *MPD) []string {
	if rec.Timelines == nil {
		rec.Timelines = map[string]*Timeline{}
	}
	var added []string
	for id, ltl := range live.Timelines {
		tl := rec.Timelines[id]
		if tl == nil {
			tl = &Timeline{Timescale: ltl.Timescale, Initialization: ltl.Initialization, Media: ltl.Media}
			rec.Timelines[id] = tl
		}
		last := int64(-1)
		if n := len(tl.Segments); n > 0 {
			last = tl.Segments[n-1].Number
		}
		for _, s := range ltl.Segments {
			if s.Number <= last {
				continue
			}
			if len(tl.Segments) == 0 {
				added = append(added, expand(tl.Initialization, id, 0))
			}
			tl.Segments = append(tl.Segments, s)
			added = append(added, expand(tl.Media, id, s.Number))
		}
	}
	if rec.root == nil {
		rec.root = live.root
	}
	return added
}

// LowestVideo is m's video representation of the lowest bandwidth, as a
// playlist of its segments (its init segment as their Map), with its
// width and height: what a storyboard is made of. ok is false when m has
// no video representation with a timeline.
func (m *MPD) LowestVideo() (p Playlist, width, height int, ok bool) {
	var best *node
	var bestBandwidth int64
	m.root.walk("Representation", func(set, rep *node) {
		if !isVideo(set, rep) || m.Timelines[rep.attr("id")] == nil {
			return
		}
		bandwidth, _ := strconv.ParseInt(rep.attr("bandwidth"), 10, 64)
		if best == nil || bandwidth < bestBandwidth {
			best, bestBandwidth = rep, bandwidth
		}
	})
	if best == nil {
		return Playlist{}, 0, 0, false
	}
	id := best.attr("id")
	tl := m.Timelines[id]
	for _, s := range tl.Segments {
		p.Segments = append(p.Segments, Segment{URI: expand(tl.Media, id, s.Number), Map: expand(tl.Initialization, id, 0),
			Duration: float64(s.Duration) / float64(tl.Timescale)})
	}
	width, _ = strconv.Atoi(best.attr("width"))
	height, _ = strconv.Atoi(best.attr("height"))
	return p, width, height, len(p.Segments) > 0
}

// isVideo: the set's contentType says, or else the mimeType of the set or
// the representation.
func isVideo(set, rep *node) bool {
	if kind := set.attr("contentType"); kind != "" {
		return kind == "video"
	}
	return strings.HasPrefix(cmp.Or(rep.attr("mimeType"), set.attr("mimeType")), "video/")
}

// FirstProgramTime is the program date-time at which rec's earliest
// segment starts on live's clock: live's availabilityStartTime plus its
// Period's start plus the segment's media time less its template's
// presentationTimeOffset, as DASH clients place segments on the wall
// clock (ISO/IEC 23009-1, 5.3.9.5.3). rec and live are of the same run.
// ok is false when live has no availabilityStartTime (a static MPD), a
// Period start that is not a plain PT…H…M…S duration, or rec no segment.
func FirstProgramTime(rec, live *MPD) (first time.Time, ok bool) {
	ast, err := time.Parse(time.RFC3339Nano, live.root.attr("availabilityStartTime"))
	if err != nil {
		return time.Time{}, false
	}
	var period *node
	live.root.walk("Period", func(_, p *node) {
		if period == nil {
			period = p
		}
	})
	start, ok := time.Duration(0), period != nil
	if ok && period.attr("start") != "" {
		start, ok = xsDuration(period.attr("start"))
	}
	if !ok {
		return time.Time{}, false
	}
	offsets := map[string]uint64{}
	live.root.walk("Representation", func(_, rep *node) {
		if tmpl := rep.child("SegmentTemplate"); tmpl != nil {
			offsets[rep.attr("id")], _ = strconv.ParseUint(tmpl.attr("presentationTimeOffset"), 10, 64)
		}
	})
	for id, tl := range rec.Timelines {
		if len(tl.Segments) == 0 || tl.Timescale == 0 {
			continue
		}
		media := (float64(tl.Segments[0].Time) - float64(offsets[id])) / float64(tl.Timescale)
		at := ast.Add(start + time.Duration(media*float64(time.Second)))
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

var xsDurationForm = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?$`)

// xsDuration reads the PT…H…M…S form of an xs:duration, the one MPDs
// write for a Period's start.
func xsDuration(s string) (time.Duration, bool) {
	m := xsDurationForm.FindStringSubmatch(s)
	if m == nil || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[3] != "" {
		secs, _ := strconv.ParseFloat(m[3], 64)
		d += time.Duration(secs * float64(time.Second))
	}
	return d, true
}

// Duration is the longest representation's duration, in seconds.
func (m *MPD) Duration() float64 {
	d := 0.0
	for _, tl := range m.Timelines {
		if n := len(tl.Segments); n > 0 && tl.Timescale > 0 {
			d = max(d, float64(tl.Segments[n-1].Time+tl.Segments[n-1].Duration-tl.Segments[0].Time)/float64(tl.Timescale))
		}
	}
	return d
}

// expand fills a $RepresentationID$ / $Number…$ template.
func expand(tmpl, id string, number int64) string {
	out := strings.ReplaceAll(tmpl, "$RepresentationID$", id)
	for {
		i := strings.Index(out, "$Number")
		if i < 0 {
			return out
		}
		j := strings.IndexByte(out[i+1:], '$')
		if j < 0 {
			return out
		}
		format := strings.TrimPrefix(out[i+len("$Number"):i+1+j], "%")
		width, _ := strconv.Atoi(strings.TrimSuffix(format, "d"))
		out = out[:i] + fmt.Sprintf("%0*d", width, number) + out[i+2+j:]
	}
}

// RenderMPD writes m as a static MPD (type="static", a
// mediaPresentationDuration, no availability or update attributes) whose
// template URIs are prefix + the job-relative ones.
func RenderMPD(m *MPD, prefix string) []byte {
	root := m.root
	root.dropAttrs("availabilityStartTime", "publishTime", "minimumUpdatePeriod", "timeShiftBufferDepth",
		"suggestedPresentationDelay", "availabilityEndTime")
	root.setAttr("type", "static")
	root.setAttr("mediaPresentationDuration", fmt.Sprintf("PT%.3fS", m.Duration()))
	root.walk("Period", func(_, p *node) { p.setAttr("start", "PT0S") })
	root.walk("UTCTiming", func(parent, _ *node) { parent.Nodes = without(parent.Nodes, "UTCTiming") })
	root.walk("Representation", func(_, rep *node) {
		tl := m.Timelines[rep.attr("id")]
		if tmpl := rep.child("SegmentTemplate"); tmpl != nil && tl != nil && len(tl.Segments) > 0 {
			*tmpl = *templateNode(tl, prefix)
		}
	})
	var b bytes.Buffer
	b.WriteString(xml.Header)
	writeNode(&b, root, 0)
	return b.Bytes()
}

func without(nodes []*node, name string) []*node {
	kept := nodes[:0]
	for _, n := range nodes {
		if n.XMLName.Local != name {
			kept = append(kept, n)
		}
	}
	return kept
}

// templateNode is a SegmentTemplate with an explicit SegmentTimeline of tl.
func templateNode(tl *Timeline, prefix string) *node {
	first := tl.Segments[0]
	st := &node{XMLName: xml.Name{Local: "SegmentTimeline"}}
	var last *node
	next := first.Time
	for _, s := range tl.Segments {
		if last != nil && s.Time == next && last.attr("d") == strconv.FormatUint(s.Duration, 10) {
			r, _ := strconv.Atoi(last.attr("r"))
			last.setAttr("r", strconv.Itoa(r+1))
		} else {
			last = &node{XMLName: xml.Name{Local: "S"}}
			last.setAttr("t", strconv.FormatUint(s.Time, 10))
			last.setAttr("d", strconv.FormatUint(s.Duration, 10))
			st.Nodes = append(st.Nodes, last)
		}
		next = s.Time + s.Duration
	}
	t := &node{XMLName: xml.Name{Local: "SegmentTemplate"}, Nodes: []*node{st}}
	t.setAttr("timescale", strconv.FormatUint(tl.Timescale, 10))
	t.setAttr("initialization", prefix+tl.Initialization)
	t.setAttr("media", prefix+tl.Media)
	t.setAttr("startNumber", strconv.FormatInt(first.Number, 10))
	t.setAttr("presentationTimeOffset", strconv.FormatUint(first.Time, 10))
	return t
}

// writeNode writes n indented; namespaced attributes keep their usual
// prefixes (xmlns:, xsi:, xlink:), others with a namespace are dropped.
func writeNode(b *bytes.Buffer, n *node, depth int) {
	indent := strings.Repeat("\t", depth)
	b.WriteString(indent + "<" + n.XMLName.Local)
	if depth == 0 && n.XMLName.Space != "" {
		fmt.Fprintf(b, ` xmlns="%s"`, escape(n.XMLName.Space))
	}
	for _, a := range n.Attrs {
		name, ok := attrName(a.Name)
		if ok {
			fmt.Fprintf(b, ` %s="%s"`, name, escape(a.Value))
		}
	}
	text := strings.TrimSpace(n.Text)
	switch {
	case len(n.Nodes) == 0 && text == "":
		b.WriteString("/>\n")
	case len(n.Nodes) == 0:
		b.WriteString(">" + escape(text) + "</" + n.XMLName.Local + ">\n")
	default:
		b.WriteString(">\n")
		for _, c := range n.Nodes {
			writeNode(b, c, depth+1)
		}
		b.WriteString(indent + "</" + n.XMLName.Local + ">\n")
	}
}

func attrName(n xml.Name) (string, bool) {
	switch n.Space {
	case "":
		return n.Local, n.Local != "xmlns"
	case "xmlns":
		return "xmlns:" + n.Local, true
	case "http://www.w3.org/2001/XMLSchema-instance":
		return "xsi:" + n.Local, true
	case "http://www.w3.org/1999/xlink":
		return "xlink:" + n.Local, true
	case "urn:mpeg:cenc:2013", "cenc":
		return "cenc:" + n.Local, true
	}
	return "", false
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
