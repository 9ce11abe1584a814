package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ffmpegOrigin is an origin that counts requests and TCP connections, so a
// test can tell whether ffmpeg's -http_persistent really reused them.
type ffmpegOrigin struct {
	*fixture
	conns, requests atomic.Int64

	mu   sync.Mutex
	idle *sync.Cond // signalled when open changes
	open int        // connections not yet closed
}

func newFFmpegOrigin(t *testing.T) *ffmpegOrigin {
	t.Helper()
	return newFFmpegOriginWith(t, nil)
}

// newFFmpegOriginWith is newFFmpegOrigin recording with rec (nil: not).
func newFFmpegOriginWith(t *testing.T, rec Recordings) *ffmpegOrigin {
	t.Helper()
	return newFFmpegOriginConfig(t, Config{Recordings: rec})
}

// newFFmpegOriginConfig is newFFmpegOrigin with cfg (its Root, Authorizer
// and Logger are the test's).
func newFFmpegOriginConfig(t *testing.T, cfg Config) *ffmpegOrigin {
	t.Helper()
	cfg.Root, cfg.Authorizer, cfg.Logger = t.TempDir(), newTokens("job1", "T"), quietLog
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := &ffmpegOrigin{}
	o.idle = sync.NewCond(&o.mu)
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = s.HTTPServer("") // the production settings
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		s.ServeHTTP(w, r)
	})
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		o.mu.Lock()
		defer o.mu.Unlock()
		switch st {
		case http.StateNew:
			o.conns.Add(1)
			o.open++
		case http.StateClosed, http.StateHijacked:
			o.open--
			o.idle.Broadcast()
		}
	}
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	o.fixture = &fixture{t: t, srv: s, http: ts, root: s.root.Name()}
	return o
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (apt-get install ffmpeg): %v", name, err)
	}
	return bin
}

// runFFmpeg encodes 4 s of a small test pattern at the pace of a live feed
// (paced) or as fast as it can, muxes it with muxArgs, and waits until the
// origin has finished every request.
//
// Pacing matters: ffmpeg never reads the answers to its uploads, so when it
// exits with answers unread its kernel resets the persistent connection, and
// requests the origin has not yet read are lost. Live, the origin is seconds
// ahead; an unpaced encode on a loaded machine can outrun it.
func (o *ffmpegOrigin) runFFmpeg(t *testing.T, paced bool, muxArgs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	if paced {
		args = append(args, "-re")
	}
	args = append(args, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", "-g", "25", "-b:v", "300k")
	out, err := exec.CommandContext(ctx, requireTool(t, "ffmpeg"), append(args, muxArgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	o.waitIdle()
}

// waitIdle returns once every connection ffmpeg opened is closed. A fresh
// request first makes sure the server has accepted all of them: the kernel
// hands connections to Accept in order.
func (o *ffmpegOrigin) waitIdle() {
	o.t.Helper()
	o.http.Client().CloseIdleConnections() // the test's own readers
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(o.http.URL + "/healthz")
	if err != nil {
		o.t.Fatalf("flush accept queue: %v", err)
	}
	resp.Body.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.open > 0 {
		o.idle.Wait()
	}
}

// probe returns ffprobe's "codec,width,height" of the first stream and the
// duration of a URL.
func probe(t *testing.T, url string) (string, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, requireTool(t, "ffprobe"), "-v", "error",
		"-show_entries", "stream=codec_name,width,height:format=duration",
		"-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var info struct {
		Streams []struct {
			Codec_name    string
			Width, Height int
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info.Streams) == 0 {
		t.Fatalf("ffprobe %s: unexpected output %q (%v)", url, out, err)
	}
	dur, err := strconv.ParseFloat(info.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q: %v", url, info.Format.Duration, err)
	}
	st := info.Streams[0]
	return fmt.Sprintf("%s,%d,%d", st.Codec_name, st.Width, st.Height), dur
}

func TestFFmpegHLSUpload(t *testing.T) {
	t.Parallel()
	o := newFFmpegOrigin(t)
	// The playlist sits beside its segments: ffmpeg lists segment base names.
	base := o.http.URL + "/live/job1/video/"
	o.runFFmpeg(t, true, "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
		"-hls_segment_filename", base+"seg_%03d.ts",
		"-method", "PUT", "-http_persistent", "1",
		"-headers", "Authorization: Bearer T\r\n", base+"index.m3u8")

	playlist, ok := o.stored("job1/video/index.m3u8")
	if !ok || !bytes.Contains(playlist, []byte("#EXT-X-ENDLIST")) {
		t.Fatalf("index.m3u8 missing or not final (ok=%v, %d requests):\n%s", ok, o.requests.Load(), playlist)
	}
	var segments int
	for line := range strings.Lines(string(playlist)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		segments++
		resp, body := o.get("/live/job1/video/" + line)
		if resp.StatusCode != http.StatusOK || len(body) == 0 || body[0] != 0x47 {
			t.Errorf("%s: status %d, %d bytes, not MPEG-TS", line, resp.StatusCode, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "video/mp2t" {
			t.Errorf("%s: Content-Type %q", line, ct)
		}
	}
	if segments != 4 {
		t.Errorf("playlist lists %d segments, want 4:\n%s", segments, playlist)
	}
	if resp, _ := o.get("/live/job1/video/index.m3u8"); resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("index.m3u8 Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if conns, reqs := o.conns.Load(), o.requests.Load(); conns >= reqs {
		t.Errorf("ffmpeg opened %d connections for %d requests: not persistent", conns, reqs)
	}
	streams, dur := probe(t, base+"index.m3u8")
	if streams != "h264,320,240" || dur < 3.5 || dur > 4.5 {
		t.Errorf("served stream: %s, %.2f s; want h264,320,240 and 4 s", streams, dur)
	}
	if left := o.hiddenFiles(); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestFFmpegDASHUpload(t *testing.T) {
	t.Parallel()
	o := newFFmpegOrigin(t)
	// 5.1's dash muxer has no -headers; the header goes through -http_opts,
	// with the colon escaped for the option dictionary.
	o.runFFmpeg(t, true, "-f", "dash", "-seg_duration", "1", "-window_size", "2", "-extra_window_size", "0",
		"-method", "PUT", "-http_persistent", "1",
		"-http_opts", `headers=Authorization\: Bearer T`,
		o.http.URL+"/live/job1/master.mpd")

	mpd, ok := o.stored("job1/master.mpd")
	if !ok || !bytes.Contains(mpd, []byte(`type="static"`)) {
		t.Fatalf("master.mpd missing or not final:\n%s", mpd)
	}
	if _, ok := o.stored("job1/chunk-stream0-00001.m4s"); ok {
		t.Error("segment 1 left the window but was not deleted")
	}
	resp, body := o.get("/live/job1/init-stream0.m4s")
	if resp.StatusCode != http.StatusOK || len(body) < 8 || string(body[4:8]) != "ftyp" {
		t.Errorf("init segment: status %d, %d bytes, no ftyp", resp.StatusCode, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("init segment Content-Type %q", ct)
	}
	resp, body = o.get("/live/job1/chunk-stream0-00004.m4s")
	if resp.StatusCode != http.StatusOK || len(body) < 8 {
		t.Errorf("last segment: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := o.get("/live/job1/master.mpd"); resp.Header.Get("Content-Type") != "application/dash+xml" {
		t.Errorf("master.mpd Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if conns, reqs := o.conns.Load(), o.requests.Load(); conns >= reqs {
		t.Errorf("ffmpeg opened %d connections for %d requests: not persistent", conns, reqs)
	}
}

// TestFFmpegStaleToken: a fenced-off transcoder writes nothing. ffmpeg itself
// exits 0 (it ignores its writes' status), so only the origin can stop it.
func TestFFmpegStaleToken(t *testing.T) {
	t.Parallel()
	o := newFFmpegOrigin(t)
	base := o.http.URL + "/live/job1/"
	o.runFFmpeg(t, false, "-f", "hls", "-hls_time", "1",
		"-method", "PUT", "-http_persistent", "1",
		"-headers", "Authorization: Bearer stale\r\n", base+"master.m3u8")
	if o.requests.Load() < 2 { // one is waitIdle's own
		t.Fatal("ffmpeg sent nothing")
	}
	files, err := filepath.Glob(filepath.Join(o.root, "*"))
	if err != nil || len(files) != 0 {
		t.Errorf("stale writer stored %v (%v)", files, err)
	}
}

// TestFFmpegLowLatencyFollow: with ffmpeg's streaming DASH (one fragment per
// frame, each segment uploaded chunked over its whole duration), a reader
// that asks for a segment still being uploaded gets all of it, as it grows.
func TestFFmpegLowLatencyFollow(t *testing.T) {
	t.Parallel()
	o := newFFmpegOrigin(t)
	const name = "job1/chunk-stream0-00001.m4s"
	type result struct {
		status int
		length int64
		body   []byte
		err    error
	}
	got := make(chan result, 1)
	go func() {
		if !o.uploadReached(name, 1) {
			got <- result{err: errors.New("upload never started")}
			return
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(o.http.URL + "/live/" + name)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, resp.ContentLength, body, err}
	}()
	o.runFFmpeg(t, true, "-f", "dash", "-seg_duration", "2", "-streaming", "1", "-ldash", "1",
		"-method", "PUT", "-http_persistent", "1",
		"-http_opts", `headers=Authorization\: Bearer T`,
		o.http.URL+"/live/job1/master.mpd")
	r := <-got
	if r.err != nil || r.status != http.StatusOK || r.length != -1 {
		t.Fatalf("GET during upload: status %d, length %d, err %v; want 200 streamed", r.status, r.length, r.err)
	}
	stored, ok := o.stored(name)
	if !ok || len(stored) == 0 || !bytes.Equal(r.body, stored) {
		t.Errorf("followed %d bytes, stored %d: differ", len(r.body), len(stored))
	}
}
