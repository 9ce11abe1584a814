package testfeed

import (
	"bufio"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
)

// The latency trace: with their logger at debug level, the feeds log when
// each frame was captured (the time code it carries, on the wall clock)
// with its timestamp in the FLV stream, so that bench/latency can follow
// the frame through the gateway and the transcoder by its timestamp.

// traceCaptures logs each frame the metadata filter prints (see timecode)
// until ffmpeg closes the pipe.
func traceCaptures(r *os.File, log *slog.Logger) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if n, ms, ok := parseCapture(sc.Text()); ok {
			log.Debug("trace: frame captured", "frame", n, "pub_ts", frameTimestamp(n), "captured_ms", ms)
		}
	}
}

// parseCapture reads the metadata filter's "frame:N pts:P pts_time:T"
// line, where P is the capture time in ms. Its other lines ("capture=1")
// are not frames.
func parseCapture(line string) (frame, ms int64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, 0, false
	}
	n, okN := strings.CutPrefix(f[0], "frame:")
	p, okP := strings.CutPrefix(f[1], "pts:")
	if !okN || !okP {
		return 0, 0, false
	}
	frame, errN := strconv.ParseInt(n, 10, 64)
	ms, errP := strconv.ParseInt(p, 10, 64)
	return frame, ms, errN == nil && errP == nil
}

// frameTimestamp is frame n's timestamp in the FLV stream, in ms: n/framerate s
// rounded to the millisecond, plus the AAC encoder's priming (1024 samples
// at 48 kHz, 21 ms), by which the muxer shifts every stream so that the
// audio does not start before 0.
func frameTimestamp(n int64) int64 {
	return int64(math.Round(float64(n)*1000/framerate)) + aacPrimingMS
}

const aacPrimingMS = 1024 * 1000 / 48000
