package origin

import (
	"bytes"
	"time"
)

// Bounds of a blocking playlist reload (blocking.go).
const (
	defaultTargetSeconds = 6 // a playlist without EXT-X-TARGETDURATION
	maxBlockingHold      = 30 * time.Second
)

// playlistEdge is the live edge of an HLS media playlist: what a blocking
// reload (RFC 8216bis 6.2.5.2) needs to know of it.
type playlistEdge struct {
	firstMSN int64 // EXT-X-MEDIA-SEQUENCE: the first segment's media sequence number
	segments int64 // complete segments: an EXTINF whose URI line has come
	parts    int64 // EXT-X-PART tags after the last complete segment
	target   int64 // EXT-X-TARGETDURATION in seconds; 0 when absent
	ended    bool  // EXT-X-ENDLIST: the playlist will not change
}

// lastMSN is the media sequence number of the last complete segment; the
// segment after it, lastMSN+1, is the one whose parts are counted.
func (p playlistEdge) lastMSN() int64 { return p.firstMSN + p.segments - 1 }

// targetSeconds is the target duration, defaulted.
func (p playlistEdge) targetSeconds() int64 {
	if p.target <= 0 {
		return defaultTargetSeconds
	}
	return p.target
}

// hold is how long a blocking reload of this playlist may wait for a new
// version: three target durations (RFC 8216bis), at most maxBlockingHold.
func (p playlistEdge) hold() time.Duration {
	target := min(p.targetSeconds(), int64(maxBlockingHold/time.Second)) // no overflow
	return min(3*time.Duration(target)*time.Second, maxBlockingHold)
}

// scanPlaylist reads the live edge of a media playlist. ok is false when b
// is not an M3U playlist or a number the scan needs does not parse. It
// allocates nothing: it runs at every wake-up of every blocked reader.
func scanPlaylist(b []byte) (p playlistEdge, ok bool) {
	line, b := nextLine(b)
	if !hasPrefix(line, "#EXTM3U") {
		return p, false
	}
	inSegment := false // an EXTINF waits for its URI line
	for len(b) > 0 {
		line, b = nextLine(b)
		switch {
		case len(line) == 0:
		case line[0] != '#':
			if inSegment {
				p.segments++
				p.parts, inSegment = 0, false
			}
		case hasPrefix(line, "#EXTINF:"):
			inSegment = true
		case hasPrefix(line, "#EXT-X-PART:"): // not EXT-X-PART-INF, not EXT-X-PRELOAD-HINT
			p.parts++
		case hasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			if p.firstMSN, ok = parseDecimal(line[len("#EXT-X-MEDIA-SEQUENCE:"):]); !ok {
				return p, false
			}
		case hasPrefix(line, "#EXT-X-TARGETDURATION:"):
			if p.target, ok = parseDecimal(line[len("#EXT-X-TARGETDURATION:"):]); !ok {
				return p, false
			}
		case string(line) == "#EXT-X-ENDLIST":
			p.ended = true
		case hasPrefix(line, "#EXT-X-STREAM-INF:"):
			return p, false // a master playlist: never reloaded with _HLS_msn
		}
	}
	return p, true
}

// nextLine splits off b's first line, without its line ending or trailing
// blanks.
func nextLine(b []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(b, []byte{'\n'})
	return bytes.TrimRight(line, " \t\r"), rest
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// parseDecimal reads a decimal-integer (RFC 8216 4.2): digits only, and
// at most 2^53-1, which players can hold.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= liveLastByte
}
