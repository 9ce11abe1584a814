package transcoder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// states lists the distinct consecutive states the reporter saw.
func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.beats {
		if len(out) == 0 || out[len(out)-1] != b.State {
			out = append(out, b.State)
		}
	}
	return out
}

func (o *testOrigin) published(contains string) []string {
	puts, _, _ := o.snapshot()
	var names []string
	for _, p := range puts {
		if isMediaSegment(p.name) && strings.Contains(p.name, contains) && !slices.Contains(names, p.name) {
			names = append(names, p.name)
		}
	}
	return names
}

// seqOf reads the number at the end of an HLS segment name
// (<label>-<run>-<seq>.ts).
func seqOf(t testing.TB, name string) int64 {
	t.Helper()
	base := strings.TrimSuffix(name, filepath.Ext(name))
	n, err := strconv.ParseInt(base[strings.LastIndex(base, "-")+1:], 10, 64)
	if err != nil {
		t.Fatalf("segment %s has no sequence number: %v", name, err)
	}
	return n
}

// TestReconnectAfterTheWindow: the publisher leaves, the reconnect window
// (0 here) passes, the stream ends (ENDLIST) and no ffmpeg runs; the
// publisher comes back and a new run starts, its segments numbered after
// the first run's under new names, nothing overwritten, and the playlist
// marks the discontinuity.
func TestReconnectAfterTheWindow(t *testing.T) {
	t.Parallel()
	spec := smallLadder("hls", "mpegts", 2, "h264")
	j := startJob(t, "reconnect", spec)
	publish(t, j.ingestURL(), 5, "640x360")
	j.waitRunsEnded(t, 1)
	between, _ := parseHLSMaster(t, j.origin.Path(j.id, ""))
	for _, r := range between {
		if !r.ended || len(r.segments) == 0 {
			t.Errorf("%s: after the window the playlist ended=%v with %d segments, want ended with segments", r.name, r.ended, len(r.segments))
		}
	}
	publish(t, j.ingestURL(), 5, "640x360")
	j.waitRunsEnded(t, 2)
	j.stop(t)

	first, second := j.origin.published("low-g1p0-"), j.origin.published("low-g1p1-")
	if len(first) == 0 || len(second) == 0 {
		t.Fatalf("segments per run: %v then %v, want both runs to publish", first, second)
	}
	lastFirst := seqOf(t, first[len(first)-1])
	for _, s := range second {
		if seqOf(t, s) <= lastFirst {
			t.Errorf("segment %s of the second run is not numbered after %s", s, first[len(first)-1])
		}
	}
	video, _ := parseHLSMaster(t, j.origin.Path(j.id, ""))
	for _, r := range video {
		if len(r.segments) == 0 || !r.segments[0].disc || !strings.Contains(r.segments[0].name, "-g1p1-") {
			t.Errorf("%s: playlist after the reconnect starts with %+v, want a second-run segment marked EXT-X-DISCONTINUITY", r.name, r.segments)
		}
	}
	checkRenditions(t, j.origin.Path(j.id, ""), spec, video, nil, 4)
	if _, denied, over := j.origin.snapshot(); denied > 0 || len(over) > 0 {
		t.Errorf("origin denied %d writes; overwritten: %v", denied, over)
	}
	want := []string{StateListening, StateStreaming, StateListening, StateStreaming, StateListening}
	if got := j.rep.states(); !slices.Equal(got[:min(len(got), len(want))], want) {
		t.Errorf("heartbeat states %v, want %v", got, want)
	}
}

// TestGracefulStop stops the transcoder while media flows: the last segment
// is flushed, playlists get ENDLIST, Run returns nil and ffmpeg is gone.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	spec := smallLadder("hls", "fmp4", 2, "h264")
	j := startJob(t, "stop", spec)
	pub := publisher(j.ingestURL(), 60, "640x360")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
	testenv.WaitFor(t, 30*time.Second, "two segments per rendition", func() bool { return len(j.origin.published("low-")) >= 2 })
	j.stop(t)
	if testenv.Listening(j.addr) {
		t.Error("the listener is still up after Run returned")
	}
	video, audio := parseHLSMaster(t, j.origin.Path(j.id, ""))
	for _, r := range append(video, audio...) {
		if !r.ended {
			t.Errorf("%s: no EXT-X-ENDLIST after a graceful stop", r.name)
		}
	}
	if got := j.rep.states(); !slices.Contains(got, StateStreaming) {
		t.Errorf("heartbeat states %v never say streaming", got)
	}
}

// TestStalledPublisher: a publisher that keeps its connection open but
// sends nothing has lost its input after the loss timeout: it is dropped,
// and with a reconnect window of 0 the run ends.
func TestStalledPublisher(t *testing.T) {
	t.Parallel()
	j := startJob(t, "stall", smallLadder("hls", "mpegts", 2, "h264"))
	pub := publisher(j.ingestURL(), 60, "320x180")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
	testenv.WaitFor(t, 30*time.Second, "streaming", func() bool { return j.rep.last().State == StateStreaming })
	if err := pub.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	j.waitRunsEnded(t, 1)
	testenv.WaitListening(t, j.addr, 20*time.Second)
}

// TestFenced: a Reporter answering ErrFenced stops the transcoder at once.
func TestFenced(t *testing.T) {
	t.Parallel()
	j := startJob(t, "fenced", smallLadder("hls", "mpegts", 2, "h264"))
	j.rep.mu.Lock()
	j.rep.fence = true
	j.rep.mu.Unlock()
	var err error
	select {
	case err = <-j.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the reporter said fenced")
	}
	j.cancel = nil
	if !errors.Is(err, ErrFenced) {
		t.Errorf("Run returned %v, want ErrFenced", err)
	}
	if testenv.Listening(j.addr) {
		t.Error("ffmpeg still listens after Run returned")
	}
}

const helperEnv = "EZLIVE_TRANSCODER_TEST_HELPER"

// TestNoOrphan kills the supervising process with SIGKILL and checks that
// its ffmpeg dies with it.
func TestNoOrphan(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	addr := testenv.FreeAddr(t)
	o := newTestOrigin(t, "orphan")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTranscoder$")
	cmd.Env = append(os.Environ(), helperEnv+"="+addr+" "+o.URL("orphan"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testenv.WaitListening(t, addr, 20*time.Second)
	pub := publisher("rtmp://"+addr+"/live/k", 60, "320x180")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
	var ff []int
	testenv.WaitFor(t, 20*time.Second, "the helper's ffmpeg", func() bool {
		ff = childrenNamed(t, cmd.Process.Pid, "ffmpeg")
		return len(ff) == 1
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("ffmpeg %d to die with its parent", ff[0]), func() bool { return !alive(ff[0]) })
}

// TestHelperTranscoder is not a test: TestNoOrphan runs the test binary
// with it as a transcoder process to SIGKILL.
func TestHelperTranscoder(t *testing.T) {
	arg := os.Getenv(helperEnv)
	if arg == "" {
		t.Skip("helper process for TestNoOrphan")
	}
	addr, origin, _ := strings.Cut(arg, " ")
	_ = Run(context.Background(), Config{
		JobID: "orphan", Spec: smallLadder("hls", "mpegts", 2, "h264"), StreamKey: "k",
		ListenAddr: addr, OriginURL: origin, UploadToken: "tok-orphan", Reporter: &recorder{},
	})
}

// childrenNamed lists the pids whose parent is ppid and whose command is
// name.
func childrenNamed(t testing.TB, ppid int, name string) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < 0 {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || s[open+1:end] != name || fields[1] != strconv.Itoa(ppid) {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		pids = append(pids, pid)
	}
	return pids
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// TestSilentConnection: a connection that never even completes the RTMP
// handshake (a port scanner, a wedged encoder) does not keep the publisher
// out.
func TestSilentConnection(t *testing.T) {
	t.Parallel()
	j := startJob(t, "silent", smallLadder("hls", "mpegts", 2, "h264"))
	c, err := net.Dial("tcp", j.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	publish(t, j.ingestURL(), 3, "320x180")
	j.waitRunsEnded(t, 1)
}

// TestWrongStreamKey: the front refuses a publisher with another key
// before any of its media reaches ffmpeg.
func TestWrongStreamKey(t *testing.T) {
	t.Parallel()
	j := startJob(t, "wrongkey", smallLadder("hls", "mpegts", 2, "h264"))
	out, err := publisher("rtmp://"+j.addr+"/live/NOTTHEKEY", 3, "320x180").CombinedOutput()
	if err == nil {
		t.Fatalf("a publisher with the wrong key was taken:\n%s", out)
	}
	if got := j.rep.states(); slices.Contains(got, StateStreaming) {
		t.Errorf("states %v: media of the wrong key was encoded", got)
	}
}

// TestStreamKeyRotation: once a heartbeat's reply carries a new stream key,
// the publisher still on the old key is cut off, the old key is refused,
// and the new key publishes (through the gateway, which forwards the key
// the publisher used).
func TestStreamKeyRotation(t *testing.T) {
	t.Parallel()
	j := startJob(t, "rekey", smallLadder("hls", "mpegts", 2, "h264"))
	old := publisher(j.ingestURL(), 60, "320x180")
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- old.Wait() }()
	testenv.WaitFor(t, 30*time.Second, "streaming with the first key", func() bool {
		return j.rep.last().State == StateStreaming
	})

	newKey := "key" + randHex(8)
	j.rep.mu.Lock()
	j.rep.key = newKey
	j.rep.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the publisher on the rotated key is still connected")
	}
	if out, err := publisher(j.ingestURL(), 2, "320x180").CombinedOutput(); err == nil {
		t.Fatalf("the old key still publishes:\n%s", out)
	}
	publish(t, "rtmp://"+j.addr+"/live/"+newKey, 4, "320x180")
	j.waitRunsEnded(t, 2)
}
