package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
)

// Slate describes one second of a slate to encode: the picture size and
// frame rate, and the audio format, of the publisher it stands in for.
type Slate struct {
	Width, Height int
	Fps           float64
	SampleRate    int
	Channels      int // 1: mono, otherwise stereo
}

// SlateArgs returns the argv (without the program name) that encodes image
// as one second of s to FLV on standard output: scaled to fit and padded,
// H.264 with one key frame and no B-frames (the GOP loops), and AAC
// silence. The transcoder writes it while a publisher's input is lost.
func SlateArgs(image string, s Slate) []string {
	vf := fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p",
		s.Width, s.Height, s.Width, s.Height)
	layout := "stereo"
	if s.Channels == 1 {
		layout = "mono"
	}
	frames := strconv.Itoa(int(math.Round(s.Fps)))
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-loop", "1", "-framerate", ffNum(s.Fps), "-i", image,
		"-f", "lavfi", "-i", fmt.Sprintf("anullsrc=r=%d:cl=%s", s.SampleRate, layout),
		"-frames:v", frames, "-t", "1.2", "-vf", vf,
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-bf", "0",
		"-g", frames, "-keyint_min", frames,
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", "pipe:1"}
}
