package ffmpeg

import (
	"bytes"
	"regexp"
)

// What ffmpeg 5.1's muxers write into manifests that the transcoder's relay
// corrects before players see it.

// EndList ends an HLS playlist: the hls muxer writes it when its input
// ends, as does the dash muxer into the HLS playlists it writes.
var EndList = []byte("#EXT-X-ENDLIST\n")

// StaticMPD marks the MPD the dash muxer writes when its input ends.
var StaticMPD = []byte(`type="static"`)

// BufferOneSegment sets minBufferTime to one segment. ffmpeg writes two
// segments, and players that ignore the one-segment
// suggestedPresentationDelay (it leaves no margin for encoding and upload;
// the demo page does) stay 1.5 × minBufferTime behind the live edge: three
// segments, and more than three with the encoder's delay. One segment of
// buffer covers the encoder's rate control window (Buf_size at
// Max_bitrate, 2 s by default) for segments of 2 s and more.
func BufferOneSegment(b []byte) []byte {
	m := maxSegmentDuration.FindSubmatch(b)
	if m == nil {
		return b
	}
	return minBufferTime.ReplaceAll(b, []byte(`minBufferTime="`+string(m[1])+`"`))
}

var minBufferTime = regexp.MustCompile(`minBufferTime="PT[0-9.]+S"`)

// PollEverySegment shortens the MPD update period of a low-latency MPD.
// ffmpeg 5.1 writes minimumUpdatePeriod="PT500S" there, as an MPD without
// a timeline does not change while a run lasts. But a publisher that
// reconnects starts a new run with a new availabilityStartTime and new
// segment names, and players reloading every 500 s would ask for the old
// run's segments for minutes. They reload once a segment instead.
func PollEverySegment(b []byte) []byte {
	m := maxSegmentDuration.FindSubmatch(b)
	if m == nil {
		return b
	}
	return bytes.Replace(b, []byte(`minimumUpdatePeriod="PT500S"`), []byte(`minimumUpdatePeriod="`+string(m[1])+`"`), 1)
}

var maxSegmentDuration = regexp.MustCompile(`maxSegmentDuration="(PT[0-9.]+S)"`)
