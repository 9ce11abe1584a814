package transcoder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// recorder is a Reporter that keeps every heartbeat and answers with key,
// the job's stream key (empty: unchanged).
type recorder struct {
	mu    sync.Mutex
	beats []Heartbeat
	fence bool
	key   string
}

func (r *recorder) Report(_ context.Context, hb Heartbeat) (Reply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beats = append(r.beats, hb)
	if r.fence {
		return Reply{}, fmt.Errorf("redis says: %w", ErrFenced)
	}
	return Reply{StreamKey: r.key}, nil
}

func (r *recorder) last() Heartbeat {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.beats) == 0 {
		return Heartbeat{}
	}
	return r.beats[len(r.beats)-1]
}

// job is one transcoder under test with its origin.
type job struct {
	id     string
	addr   string
	key    string
	origin *testOrigin
	rep    *recorder
	logs   *testenv.Buffer // what the transcoder logged
	cancel context.CancelFunc
	done   chan error
}

func requireFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed: the media tests need it (apt-get install ffmpeg)", bin)
		}
	}
}

// startJob runs transcoder.Run for spec and waits until its RTMP listener
// accepts connections.
func startJob(t testing.TB, name string, spec jobspec.Spec) *job {
	t.Helper()
	requireFFmpeg(t)
	j := &job{id: name + "-" + randHex(4), addr: testenv.FreeAddr(t), key: "key" + randHex(8), rep: &recorder{}, logs: &testenv.Buffer{}, done: make(chan error, 1)}
	j.origin = newTestOrigin(t, j.id)
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	cfg := Config{
		JobID: j.id, Generation: 1, Spec: spec, StreamKey: j.key, ListenAddr: j.addr,
		OriginURL: j.origin.URL(j.id), UploadToken: j.origin.token, Reporter: j.rep,
		HeartbeatInterval: 200 * time.Millisecond, LossTimeout: time.Second, AllowPrivateSlate: true,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, j.logs), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	go func() { j.done <- Run(ctx, cfg) }()
	t.Cleanup(func() { j.stop(t) })
	testenv.WaitListening(t, j.addr, 20*time.Second)
	return j
}

// stop ends Run gracefully and checks it returned nil.
func (j *job) stop(t testing.TB) {
	t.Helper()
	if j.cancel == nil {
		return
	}
	j.cancel()
	j.cancel = nil
	if err := <-j.done; err != nil {
		t.Errorf("Run returned %v after a graceful stop", err)
	}
}

// waitRunsEnded waits until n runs of ffmpeg have ended in all (streaming,
// then listening again): the publisher's last bytes are through ffmpeg and
// the run's output is final.
func (j *job) waitRunsEnded(t testing.TB, n int) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("run %d to end", n), func() bool {
		return strings.Count(strings.Join(j.rep.states(), " "), StateStreaming+" "+StateListening) >= n
	})
}

func (j *job) ingestURL() string { return "rtmp://" + j.addr + "/live/" + j.key }

// publish pushes seconds of synthetic media (testsrc2 + sine) in real time
// and returns when the publisher has finished.
func publish(t testing.TB, url string, seconds float64, size string) {
	t.Helper()
	cmd := publisher(url, seconds, size)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("publisher: %v\n%s", err, out)
	}
}

func publisher(url string, seconds float64, size string) *exec.Cmd {
	d := strconv.FormatFloat(seconds, 'f', -1, 64)
	return exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", d, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", url)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
