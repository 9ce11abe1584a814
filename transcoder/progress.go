package transcoder

import (
	"strconv"
	"strings"
)

// progress is one block of ffmpeg's -progress output, which ends with a
// "progress=continue" or "progress=end" line.
type progress struct {
	frames      int64
	fps         float64
	bitrateKbps float64
	totalSize   int64
	outTimeUS   int64
	dropped     int64
	speed       float64
	end         bool
}

type progressReader struct {
	cur  progress
	emit func(progress)
}

func newProgressReader(emit func(progress)) *progressReader {
	return &progressReader{emit: emit}
}

// line takes one key=value line. Values ffmpeg does not know yet ("N/A")
// read as zero.
func (r *progressReader) line(l string) {
	k, v, ok := strings.Cut(l, "=")
	if !ok {
		return
	}
	v = strings.TrimSpace(v)
	switch k {
	case "frame":
		r.cur.frames = parseInt(v)
	case "fps":
		r.cur.fps = parseFloat(v)
	case "bitrate":
		r.cur.bitrateKbps = parseFloat(strings.TrimSuffix(v, "kbits/s"))
	case "total_size":
		r.cur.totalSize = parseInt(v)
	case "out_time_us", "out_time_ms": // out_time_ms is microseconds too
		r.cur.outTimeUS = parseInt(v)
	case "drop_frames":
		r.cur.dropped = parseInt(v)
	case "speed":
		r.cur.speed = parseFloat(strings.TrimSuffix(v, "x"))
	case "progress":
		r.cur.end = v == "end"
		r.emit(r.cur)
		r.cur = progress{}
	}
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 {
		return 0
	}
	return f
}
