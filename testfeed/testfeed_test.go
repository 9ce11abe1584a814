package testfeed

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

func TestMain(m *testing.M) {
	// The orphan test re-runs this binary as a process that starts a feed
	// and is then killed; see runChildFeed.
	if url := os.Getenv("TESTFEED_CHILD_INGEST"); url != "" {
		runChildFeed(url)
		return
	}
	os.Exit(m.Run())
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg is needed: %v", err)
	}
}

// listener is a real ffmpeg RTMP server that writes one framecrc line per
// frame it receives, so a test can see video and audio arrive.
type listener struct {
	url   string
	cmd   *exec.Cmd
	lines chan string
}

// listen starts `ffmpeg -listen 1` on a free loopback port and returns once
// it is accepting (seen in /proc/net/tcp, since a probe connection would be
// taken for the publisher). seconds bounds how much it reads.
func listen(t *testing.T, seconds int) *listener {
	t.Helper()
	port := testenv.FreePort(t)
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/testkey", port)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-listen", "1", "-i", url, "-t", strconv.Itoa(seconds), "-f", "framecrc", "-")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start RTMP listener: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	l := &listener{url: url, cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(l.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			select { // a test that has seen enough stops reading
			case l.lines <- line:
			default:
			}
		}
	}()
	testenv.WaitListening(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second)
	return l
}

// frames reads framecrc lines until the listener has seen want video frames
// and some audio, or it ends.
func (l *listener) frames(t *testing.T, want int) (video, audio int) {
	t.Helper()
	for line := range l.lines {
		switch {
		case strings.HasPrefix(line, "0,"):
			video++
		case strings.HasPrefix(line, "1,"):
			audio++
		}
		if video >= want && audio > 0 {
			return video, audio
		}
	}
	return video, audio
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has exited; only its parent's wait is missing.
	_, rest, _ := bytes.Cut(b, []byte(") "))
	return len(rest) > 0 && rest[0] != 'Z'
}

func newFeeds(t *testing.T) *Feeds {
	f := New("", Size{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(f.Close)
	return f
}

func TestArgs(t *testing.T) {
	t.Parallel()
	const url = "rtmp://127.0.0.1:1935/live/abc"
	for _, tc := range []struct {
		name      string
		argv      []string
		wantClock bool
	}{
		{"with clock", Args(url), true},
		{"without clock", ArgsWithoutClock(url, DefaultSize), false},
	} {
		joined := strings.Join(tc.argv, " ")
		if got := tc.argv[len(tc.argv)-1]; got != url {
			t.Errorf("%s: last arg %q, want the ingest URL", tc.name, got)
		}
		for _, want := range []string{"-re", "testsrc2=size=1280x720:rate=30", "sine=", "-f flv", "-preset ultrafast"} {
			if !strings.Contains(joined, want) {
				t.Errorf("%s: argv lacks %q: %s", tc.name, want, joined)
			}
		}
		if got := strings.Contains(joined, "drawtext="); got != tc.wantClock {
			t.Errorf("%s: drawtext present = %v, want %v", tc.name, got, tc.wantClock)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Size{"1280x720": DefaultSize, "640x360": {640, 360}, "3840x2160": {3840, 2160}} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "640", "640x", "x360", "640x360x2", "640X360", " 640x360", "640x360 ", "641x360", "160x90", "7680x4320", "-640x360"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %v, want an error", in, got)
		}
	}
	if joined := strings.Join(args("rtmp://h/live/k", Size{640, 360}, true, false), " "); !strings.Contains(joined, "testsrc2=size=640x360:rate=30") || !strings.Contains(joined, "fontsize=32") {
		t.Errorf("a 640x360 pattern's argv: %s", joined)
	}
}

func TestClockWorks(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	if !ClockWorks(context.Background(), "ffmpeg") {
		t.Error("ffmpeg here has drawtext and fonts, but ClockWorks says no")
	}
	if ClockWorks(context.Background(), "/nonexistent/ffmpeg") {
		t.Error("ClockWorks says yes for a missing ffmpeg")
	}
}

// A job must be listening: behind the gateway a created job already has
// its URL, but nothing listens behind it yet.
func TestStartNeedsAListeningJob(t *testing.T) {
	t.Parallel()
	f := newFeeds(t)
	for _, job := range []*jobspec.LiveJob{
		{Id: "j1", State: jobspec.StateRunning},
		{Id: "j1", State: jobspec.StateCreated, RtmpIngestUrl: "rtmp://127.0.0.1:1/live/k"},
		{Id: "j1", State: jobspec.StateStopped, RtmpIngestUrl: "rtmp://127.0.0.1:1/live/k"},
	} {
		if err := f.Start(context.Background(), job); jobspec.ErrorCode(err) != jobspec.ECONFLICT {
			t.Errorf("Start of a %s job with URL %q: got %v, want a conflict error", job.State, job.RtmpIngestUrl, err)
		}
	}
	if f.Running("j1") {
		t.Error("Running after a refused start")
	}
}

// The feed reaches a real RTMP server, and when that server goes away the
// feed ends by itself.
func TestFeedReachesIngest(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	l := listen(t, 3)
	f := newFeeds(t)
	job := &jobspec.LiveJob{Id: "reach", RtmpIngestUrl: l.url, State: jobspec.StateRunning}
	if err := f.Start(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if !f.Running(job.Id) {
		t.Fatal("not Running right after Start")
	}
	if err := f.Start(context.Background(), job); err != nil {
		t.Fatalf("second Start of a running feed: %v", err)
	}
	video, audio := l.frames(t, 60)
	if video < 60 || audio == 0 {
		t.Fatalf("listener saw %d video and %d audio frames, want at least 60 video and some audio", video, audio)
	}
	// The listener stops after 3 s, which breaks the feed's connection.
	testenv.WaitFor(t, 30*time.Second, "the feed to end with its ingest", func() bool { return !f.Running(job.Id) })
}

func TestStopEndsFeed(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	l := listen(t, 60)
	f := newFeeds(t)
	job := &jobspec.LiveJob{Id: "stop", RtmpIngestUrl: l.url, State: jobspec.StateRunning}
	if err := f.Start(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	pid := f.feeds[job.Id].cmd.Process.Pid
	f.mu.Unlock()
	if video, _ := l.frames(t, 10); video < 10 {
		t.Fatalf("listener saw %d video frames before Stop, want 10", video)
	}
	if err := f.Stop(job.Id); err != nil {
		t.Fatal(err)
	}
	if f.Running(job.Id) {
		t.Error("Running after Stop")
	}
	if alive(pid) {
		t.Errorf("ffmpeg %d still alive after Stop", pid)
	}
	if err := f.Stop(job.Id); err != nil {
		t.Errorf("Stop of a stopped feed: %v", err)
	}
	// With the publisher gone the listener finishes reading.
	if err := l.cmd.Wait(); err != nil {
		t.Errorf("listener after the feed stopped: %v", err)
	}
}

func TestCloseStopsAll(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	l1, l2 := listen(t, 60), listen(t, 60)
	f := newFeeds(t)
	for i, l := range []*listener{l1, l2} {
		if err := f.Start(context.Background(), &jobspec.LiveJob{Id: fmt.Sprint(i), RtmpIngestUrl: l.url, State: jobspec.StateRunning}); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	for _, id := range []string{"0", "1"} {
		if f.Running(id) {
			t.Errorf("feed %s Running after Close", id)
		}
	}
	err := f.Start(context.Background(), &jobspec.LiveJob{Id: "late", RtmpIngestUrl: l1.url, State: jobspec.StateRunning})
	if jobspec.ErrorCode(err) != jobspec.EUNAVAILABLE {
		t.Errorf("Start after Close: got %v, want unavailable", err)
	}
}

// runChildFeed is the body of the re-executed test binary: start a feed,
// print ffmpeg's pid, and wait to be killed.
func runChildFeed(url string) {
	f := New("", Size{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := f.Start(context.Background(), &jobspec.LiveJob{Id: "orphan", RtmpIngestUrl: url, State: jobspec.StateRunning}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	f.mu.Lock()
	fmt.Println(f.feeds["orphan"].cmd.Process.Pid)
	f.mu.Unlock()
	select {}
}

// A feed never outlives the process that started it, even one killed
// without a chance to clean up.
func TestNoOrphanWhenParentDies(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	l := listen(t, 60)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "TESTFEED_CHILD_INGEST="+l.url)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read feed pid from child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("child said %q", line)
	}
	if video, _ := l.frames(t, 5); video < 5 {
		t.Fatalf("listener saw %d video frames from the child's feed, want 5", video)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("orphaned ffmpeg %d to die", pid), func() bool { return !alive(pid) })
}
