package testfeed

import (
	"bufio"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The time code survives what the sample ladder's smallest rendition does to
// the picture (640x360, 365 kbit/s x264) and reads back as the wall clock of
// the frame's passage through the publisher: never before ffmpeg started,
// never after the frame was decoded here, always increasing; from a pattern
// of the default size, and of the tests' 640x360, which draws it smaller.
func TestTimecodeSurvivesThe360pRendition(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	for _, z := range []Size{DefaultSize, {640, 360}} {
		t.Run(z.String(), func(t *testing.T) {
			t.Parallel()
			timecodeSurvives360p(t, args("pipe:1", z, true, false))
		})
	}
}

func timecodeSurvives360p(t *testing.T, argv []string) {
	const w, h, frames = 640, 360, 45
	publish := exec.Command("ffmpeg", argv...)
	transcode := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "flv", "-i", "pipe:0",
		"-an", "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "faster", "-tune", "zerolatency",
		"-b:v", "365k", "-maxrate", "500k", "-bufsize", "500k", "-f", "nut", "pipe:1")
	decode := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "nut", "-i", "pipe:0",
		"-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	var err error
	if transcode.Stdin, err = publish.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if decode.Stdin, err = transcode.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := decode.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UnixMilli()
	for _, c := range []*exec.Cmd{publish, transcode, decode} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	r := bufio.NewReaderSize(out, w*h)
	frame := make([]byte, w*h)
	var prev, sum int64
	for i := range frames {
		if _, err := io.ReadFull(r, frame); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		now := time.Now().UnixMilli()
		code, ok := DecodeTimecode(frame, w, h, w)
		if !ok {
			t.Fatalf("frame %d: the time code does not read", i)
		}
		ms := unwrap(code, now)
		if ms < start || ms > now {
			t.Fatalf("frame %d: time code %d ms, outside [%d, %d] (ffmpeg started, frame read)", i, ms, start, now)
		}
		if i > 0 && ms <= prev {
			t.Fatalf("frame %d: time code %d ms, not after the previous frame's %d", i, ms, prev)
		}
		if i > 0 {
			sum += ms - prev
		}
		prev = ms
	}
	t.Logf("frames %d ms apart on average (30 fps: 33.3)", sum/(frames-1))
}

// unwrap gives the time code, the clock modulo 2^24 ms, back its high bits
// from now, a time at or after it.
func unwrap(code uint32, now int64) int64 {
	const span = 1 << timecodeBits
	return now - (now-int64(code))%span
}

// A picture without the code does not read as one.
func TestTimecodeNotReadFromABlankFrame(t *testing.T) {
	t.Parallel()
	frame := make([]byte, 640*360)
	if _, ok := DecodeTimecode(frame, 640, 360, 640); ok {
		t.Fatal("a black frame read as a time code")
	}
}
