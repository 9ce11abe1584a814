package recording

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A recording's storyboard (the seek previews players show): one sprite
// of tiles, StoryboardImage, and a WebVTT index, StoryboardVTT, whose cues
// name each tile as "StoryboardImage#xywh=x,y,w,h".
const (
	StoryboardVTT   = "storyboard.vtt"
	StoryboardImage = "storyboard.jpg"
	// StoryboardWidth is a tile's width in pixels.
	StoryboardWidth = 160
	// StoryboardMaxTiles bounds the sprite: a longer recording gets a
	// tile less often than every StoryboardMinInterval seconds.
	StoryboardMaxTiles    = 100
	StoryboardMinInterval = 2
	storyboardColumns     = 10
	storyboardNote        = "NOTE ezlive segments="
)

// Storyboard is the layout of a recording's sprite.
type Storyboard struct {
	Interval      int     // seconds between tiles
	Tiles         int     // tiles in use
	Columns, Rows int     // the grid
	Width, Height int     // of one tile
	Duration      float64 // seconds covered
	Segments      int     // of the rendition it was made from
}

// PlanStoryboard lays out the storyboard of a rendition of duration
// seconds and segments segments, whose frames are width x height (0 when
// unknown: 16:9 is assumed).
func PlanStoryboard(duration float64, segments, width, height int) Storyboard {
	interval := max(StoryboardMinInterval, int(math.Ceil(duration/StoryboardMaxTiles)))
	tiles := max(1, int(math.Ceil(duration/float64(interval))))
	h := StoryboardWidth * 9 / 16
	if width > 0 && height > 0 {
		h = int(math.Round(float64(StoryboardWidth*height)/float64(width)/2)) * 2
	}
	cols := min(tiles, storyboardColumns)
	return Storyboard{Interval: interval, Tiles: tiles, Columns: cols, Rows: (tiles + cols - 1) / cols,
		Width: StoryboardWidth, Height: h, Duration: duration, Segments: segments}
}

// RenderVTT renders the storyboard's WebVTT index; a NOTE keeps the
// segment count it was made from (StoryboardSegments).
func (sb Storyboard) RenderVTT() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "WEBVTT\n\n%s%d\n", storyboardNote, sb.Segments)
	for i := range sb.Tiles {
		from := float64(i * sb.Interval)
		to := min(from+float64(sb.Interval), sb.Duration)
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(from), vttTime(to), StoryboardImage,
			i%sb.Columns*sb.Width, i/sb.Columns*sb.Height, sb.Width, sb.Height)
	}
	return b.Bytes()
}

func vttTime(s float64) string {
	ms := int64(math.Round(s * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// StoryboardSegments is the segment count a stored index was made from;
// ok is false when it names none.
func StoryboardSegments(vtt []byte) (n int, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(vtt))
	for sc.Scan() {
		if rest, found := strings.CutPrefix(sc.Text(), storyboardNote); found {
			n, err := strconv.Atoi(rest)
			return n, err == nil
		}
	}
	return 0, false
}

// LowestVariant returns the URI and resolution (0 when not given) of the
// variant of an HLS master playlist with the lowest BANDWIDTH; ok is false
// when it has none.
func LowestVariant(master []byte) (uri string, width, height int, ok bool) {
	best := int64(math.MaxInt64)
	var attrs string
	for line := range strings.Lines(string(master)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			attrs = line
		case attrs != "" && line != "" && !strings.HasPrefix(line, "#"):
			bw, _ := strconv.ParseInt(attribute(attrs, "BANDWIDTH"), 10, 64)
			if bw < best || !ok {
				best, uri, ok = bw, line, true
				width, height = 0, 0
				if w, h, found := strings.Cut(attribute(attrs, "RESOLUTION"), "x"); found {
					width, _ = strconv.Atoi(w)
					height, _ = strconv.Atoi(h)
				}
			}
			attrs = ""
		}
	}
	return uri, width, height, ok
}

// attribute is the value of name in an HLS attribute list (unquoted).
func attribute(attrs, name string) string {
	for _, part := range splitAttrs(attrs[strings.IndexByte(attrs, ':')+1:]) {
		if k, v, ok := strings.Cut(part, "="); ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// splitAttrs splits an attribute list at commas outside quotes.
func splitAttrs(s string) []string {
	var parts []string
	quoted, start := false, 0
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
