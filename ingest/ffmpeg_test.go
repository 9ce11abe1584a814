package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/rtmp"
)

// These tests put real ffmpeg on both sides of the gateway: an ffmpeg RTMP
// listener as the transcoder, an ffmpeg encoder as the user's publisher.

func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// publisherArgs is a small, cheap test pattern published for seconds.
func publisherArgs(url string, seconds int) []string {
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
		"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-b:a", "64k",
		"-f", "flv", url}
}

func TestFFmpegThroughGateway(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.flv")
	port := testenv.FreePort(t)
	var listenerLog bytes.Buffer
	listener := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
		"-listen", "1", "-i", fmt.Sprintf("rtmp://127.0.0.1:%d/live/transcoder-key", port),
		"-c", "copy", "-f", "flv", out)
	listener.Stderr = &listenerLog
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	defer listener.Process.Kill()
	testenv.WaitListening(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)

	target := Target{JobID: "job-1", Addr: fmt.Sprintf("127.0.0.1:%d", port), App: "live", StreamName: "transcoder-key"}
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"user-key": target}})
	var pubLog bytes.Buffer
	pub := exec.CommandContext(ctx, "ffmpeg", publisherArgs("rtmp://"+gw+"/live/user-key", 4)...)
	pub.Stderr = &pubLog
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the publisher to be relayed", func() bool { return g.Stats().ActivePublishers == 1 })

	// A second publisher on the same key is refused while the first goes on.
	_, err := publish(t, gw, "user-key")
	if !errors.Is(err, rtmp.ErrRefused) || !strings.Contains(err.Error(), "already publishing") {
		t.Fatalf("second publisher: %v", err)
	}
	if err := pub.Wait(); err != nil {
		t.Fatalf("publisher: %v\n%s", err, pubLog.String())
	}
	if err := listener.Wait(); err != nil {
		t.Fatalf("listener: %v\n%s", err, listenerLog.String())
	}
	streams, duration := probe(t, out)
	if !strings.Contains(streams, "video") || !strings.Contains(streams, "audio") || duration <= 2 {
		t.Fatalf("output has streams %q and %.1f s, want video and audio over 2 s\nlistener: %s", streams, duration, listenerLog.String())
	}
	st := g.Stats()
	if st.Accepted != 1 || st.Refused[ReasonBusy] != 1 || st.BytesRelayed == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFFmpegWrongKey: ffmpeg is told why and exits; the transcoder stand-in
// never sees a connection.
func TestFFmpegWrongKey(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	transcoder := newConnCounter(t)
	g, gw := startGateway(t, Config{Resolver: StaticResolver{"right": {Addr: transcoder.addr(), App: "live", StreamName: "right"}}})
	var pubLog bytes.Buffer
	pub := exec.CommandContext(ctx, "ffmpeg", publisherArgs("rtmp://"+gw+"/live/wrong", 2)...)
	pub.Stderr = &pubLog
	if err := pub.Run(); err == nil {
		t.Fatalf("ffmpeg published with a wrong key\n%s", pubLog.String())
	}
	if !strings.Contains(pubLog.String(), ErrUnknownKey.Error()) {
		t.Errorf("ffmpeg was not told why:\n%s", pubLog.String())
	}
	if n := g.Stats().Refused[ReasonUnknownKey]; n != 1 {
		t.Fatalf("unknown_key refusals %d, want 1", n)
	}
	if n, b := transcoder.conns.Load(), transcoder.bytes.Load(); n != 0 || b != 0 {
		t.Fatalf("the transcoder got %d connections, %d bytes", n, b)
	}
}

// probe returns the codec types of path's streams and its duration in seconds.
func probe(t *testing.T, path string) (string, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
		}
		Format struct {
			Duration string
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, s := range r.Streams {
		types = append(types, s.CodecType)
	}
	d, _ := strconv.ParseFloat(r.Format.Duration, 64)
	return strings.Join(types, ","), d
}
