package ffmpeg

import "fmt"

// StoryboardArgs is the argument vector of the ffmpeg that makes a
// recording's storyboard sprite: it reads the rendition's segments
// (concatenated, init segment first) on stdin, decodes key frames only,
// keeps one frame every interval seconds scaled to width x height, lays
// them out cols x rows and writes one JPEG to stdout.
func StoryboardArgs(interval, width, height, cols, rows int) []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error",
		"-skip_frame", "nokey", "-i", "pipe:0", "-an", "-sn",
		"-vf", fmt.Sprintf("fps=1/%d,scale=%d:%d,setsar=1,tile=%dx%d", interval, width, height, cols, rows),
		"-frames:v", "1", "-c:v", "mjpeg", "-q:v", "5", "-f", "image2", "-update", "1", "pipe:1"}
}
