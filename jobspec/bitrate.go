package jobspec

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseBitrate reads a bitrate written as ffmpeg takes it: "365k", "2.5M" or
// "800000" (bits per second). k is 1000 and M is 1,000,000, as in ffmpeg.
func ParseBitrate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"), strings.HasSuffix(t, "m"):
		mult, t = 1e6, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || v*mult > 1e12 || t != strings.TrimSpace(t) {
		return 0, fmt.Errorf("bitrate %q is not a positive number such as 365k, 2.5M or 800000", s)
	}
	return int64(v * mult), nil
}
