package testfeed

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestParseCapture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line      string
		frame, ms int64
		ok        bool
	}{
		{"frame:0    pts:1796204412604 pts_time:1.7962e+09", 0, 1796204412604, true},
		{"frame:1234 pts:17 pts_time:0.017", 1234, 17, true},
		{"capture=1", 0, 0, false},
		{"frame:x pts:1", 0, 0, false},
		{"frame:1 pts:NOPTS pts_time:NOPTS", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		frame, ms, ok := parseCapture(tt.line)
		if ok != tt.ok || ok && (frame != tt.frame || ms != tt.ms) {
			t.Errorf("parseCapture(%q) = %d, %d, %v; want %d, %d, %v", tt.line, frame, ms, ok, tt.frame, tt.ms, tt.ok)
		}
	}
}

// The traced feed prints, for each frame, the time code it carries, and
// frameTimestamp names the timestamp the same frame has in the FLV stream.
func TestCaptureTraceNamesEachFrame(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	const frames = 20
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	publish := exec.Command("ffmpeg", args("pipe:1", DefaultSize, false, true)...)
	publish.ExtraFiles = []*os.File{w}
	decode := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "flv", "-i", "pipe:0",
		"-map", "0:v", "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	flv, err := publish.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	toDecoder, err := decode.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pictures, err := decode.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{publish, decode} {
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	w.Close()
	stamps := make(chan int64, 1000)
	go func() { // the FLV stream's video frame timestamps, and on to the decoder
		_ = videoTimestamps(io.TeeReader(flv, toDecoder), stamps)
		close(stamps)
	}()
	captures := bufio.NewScanner(r)
	pics := bufio.NewReaderSize(pictures, width*height)
	pic := make([]byte, width*height)
	for i := range int64(frames) {
		var frame, ms int64
		for ok := false; !ok; {
			if !captures.Scan() {
				t.Fatalf("frame %d: no capture line: %v", i, captures.Err())
			}
			frame, ms, ok = parseCapture(captures.Text())
		}
		if frame != i {
			t.Fatalf("capture line of frame %d, want %d", frame, i)
		}
		if ts, ok := <-stamps; !ok || ts != frameTimestamp(i) {
			t.Errorf("frame %d: FLV timestamp %d (%v), frameTimestamp %d", i, ts, ok, frameTimestamp(i))
		}
		if _, err := io.ReadFull(pics, pic); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		code, ok := DecodeTimecode(pic, width, height, width)
		if !ok || int64(code) != ms%(1<<timecodeBits) {
			t.Errorf("frame %d: time code %d (%v), capture line %d", i, code, ok, ms%(1<<timecodeBits))
		}
	}
}

// videoTimestamps sends the timestamp of each video frame (not sequence
// header) tag of an FLV stream.
func videoTimestamps(r io.Reader, out chan<- int64) error {
	if _, err := io.ReadFull(r, make([]byte, 9+4)); err != nil { // header, PreviousTagSize0
		return err
	}
	hdr := make([]byte, 11)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return err
		}
		size := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		ts := int64(hdr[7])<<24 | int64(hdr[4])<<16 | int64(hdr[5])<<8 | int64(hdr[6])
		body := make([]byte, size+4)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		if hdr[0] == 9 && size >= 2 && body[1] == 1 {
			select {
			case out <- ts:
			default:
			}
		}
	}
}
