// Package testfeed owns the "Live feed": an ffmpeg that pushes a test pattern
// (moving picture, tone, a clock burned in) into a live job's RTMP ingest.
// It only runs ffmpeg; it never reads or writes a job record.
package testfeed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// The pattern: 1280x720 (DefaultSize) at 30 fps, encoded as cheaply as x264
// can, because it runs on the same small machines as the transcoders it
// feeds.
const (
	width     = 1280
	height    = 720
	framerate = 30
)

// Size is the test pattern's frame size.
type Size struct{ Width, Height int }

// DefaultSize is the pattern's size unless asked otherwise: a camera's
// 720p. The time code's layout (Layout) is given in it.
var DefaultSize = Size{width, height}

// ParseSize reads a size written WIDTHxHEIGHT, as ffmpeg takes it: even,
// from 320x180 to 3840x2160. A smaller pattern costs its publisher and the
// transcoder's decoder less (the tests feed 640x360).
func ParseSize(s string) (Size, error) {
	var z Size
	if _, err := fmt.Sscanf(s, "%dx%d", &z.Width, &z.Height); err != nil || fmt.Sprintf("%dx%d", z.Width, z.Height) != s {
		return Size{}, fmt.Errorf("%q is not WIDTHxHEIGHT, e.g. 1280x720", s)
	}
	if z.Width < 320 || z.Height < 180 || z.Width > 3840 || z.Height > 2160 || z.Width%2 != 0 || z.Height%2 != 0 {
		return Size{}, fmt.Errorf("%s: want even sides from 320x180 to 3840x2160", s)
	}
	return z, nil
}

func (z Size) String() string { return fmt.Sprintf("%dx%d", z.Width, z.Height) }

// scaled is v, a length in DefaultSize's frame, in a frame of size z: the
// clock and the time code keep their place and proportion.
func (z Size) scaled(v int) int { return v * z.Width / width }

// clock is drawtext's wall-clock expansion, so a viewer can read the latency
// off the picture. The colon is escaped for the filter option parser.
func clock(z Size) string {
	return fmt.Sprintf(`drawtext=text='%%{localtime\:%%T}':fontsize=%d:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=%d:x=(w-text_w)/2:y=h-text_h-%d`,
		z.scaled(64), z.scaled(12), z.scaled(48))
}

// Args is the ffmpeg argv (without the program name) that pushes the test
// pattern of DefaultSize with the burned-in clock to ingestURL in real time.
func Args(ingestURL string) []string { return args(ingestURL, DefaultSize, true, false) }

// ArgsWithoutClock is Args for a pattern of size z without the drawtext
// clock, for an ffmpeg that has no drawtext filter or no font (see
// ClockWorks).
func ArgsWithoutClock(ingestURL string, z Size) []string { return args(ingestURL, z, false, false) }

// args is the feed's argv for a pattern of size z; with trace set, ffmpeg
// also writes each frame's capture time to its file descriptor 3
// (captureTrace).
func args(ingestURL string, z Size, withClock, trace bool) []string {
	video := fmt.Sprintf("testsrc2=size=%s:rate=%d", z, framerate)
	if withClock {
		video += "," + clock(z)
	}
	return []string{
		"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", video,
		"-re", "-f", "lavfi", "-i", "sine=frequency=1000:beep_factor=4:sample_rate=48000",
		"-map", "0:v", "-map", "1:a", "-vf", timecode(z, trace),
		"-c:v", ffmpeg.Encoder("h264"), "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-g", fmt.Sprint(2 * framerate), "-keyint_min", fmt.Sprint(2 * framerate),
		"-b:v", "2000k", "-maxrate", "2000k", "-bufsize", "2000k",
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
		"-f", "flv", ingestURL,
	}
}

// ClockWorks reports whether ffmpeg can burn the clock in: drawtext needs
// libfreetype and a font found through fontconfig, which a minimal machine
// may lack. It renders a few frames to nowhere.
func ClockWorks(ctx context.Context, ffmpegPath string) bool {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpegPath, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=64x64:rate=1:duration=1,"+clock(DefaultSize), "-f", "null", "-")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd.Run() == nil
}

// Feeds runs at most one test feed per live job. Close stops them all.
type Feeds struct {
	ffmpeg string
	size   Size
	log    *slog.Logger

	clockOnce sync.Once
	withClock bool

	mu     sync.Mutex
	closed bool
	feeds  map[string]*feed // by job id
}

type feed struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when ffmpeg has exited and been waited for
	stopping atomic.Bool   // set by stop, so its exit is not logged as a failure
}

// New returns Feeds that run ffmpegPath ("ffmpeg" when empty) to push
// patterns of size (DefaultSize when zero).
func New(ffmpegPath string, size Size, logger *slog.Logger) *Feeds {
	if ffmpegPath == "" {
		ffmpegPath = "ffmpeg"
	}
	if logger == nil {
		logger = slog.Default()
	}
	if size == (Size{}) {
		size = DefaultSize
	}
	return &Feeds{ffmpeg: ffmpegPath, size: size, log: logger, feeds: map[string]*feed{}}
}

// Start pushes the test pattern into job.RtmpIngestUrl; the job must be
// listening (running or streaming). ctx bounds only the
// start: the feed runs until Stop, Close, or ffmpeg exits (for instance when
// the ingest goes away); it is not restarted. Starting a job that is already
// being fed is a no-op.
func (f *Feeds) Start(ctx context.Context, job *jobspec.LiveJob) error {
	if !job.Listening() || job.RtmpIngestUrl == "" {
		// Behind the gateway the URL exists from creation; only a running
		// job has a listener behind it.
		return jobspec.Errorf(jobspec.ECONFLICT, "job %s is not listening for a feed (it is %s)", job.Id, job.State)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start test feed for job %s: %w", job.Id, err)
	}
	argv := f.argv(ctx, job.RtmpIngestUrl)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return jobspec.Errorf(jobspec.EUNAVAILABLE, "test feeds are shut down")
	}
	if fd, ok := f.feeds[job.Id]; ok && !fd.exited() {
		return nil
	}
	fd, err := f.spawn(job.Id, argv)
	if err != nil {
		return fmt.Errorf("start test feed for job %s: %w", job.Id, err)
	}
	f.feeds[job.Id] = fd
	f.log.Info("test feed started", "job_id", job.Id)
	return nil
}

// argv decides once whether this ffmpeg can draw the clock.
func (f *Feeds) argv(ctx context.Context, ingestURL string) []string {
	f.clockOnce.Do(func() {
		f.withClock = ClockWorks(context.WithoutCancel(ctx), f.ffmpeg)
		if !f.withClock {
			f.log.Warn("ffmpeg cannot draw text (no drawtext filter or no font): test feed without clock")
		}
	})
	return args(ingestURL, f.size, f.withClock, f.trace())
}

// trace reports whether the feeds log each frame's capture time: with
// their logger at debug level (the latency trace, bench/latency).
func (f *Feeds) trace() bool { return f.log.Enabled(context.Background(), slog.LevelDebug) }

// spawn starts ffmpeg and a goroutine that waits for it. The caller holds mu.
func (f *Feeds) spawn(jobID string, argv []string) (*feed, error) {
	cmd := exec.Command(f.ffmpeg, argv...)
	// The feed must die with us: nothing else would ever stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	var captures *os.File
	if f.trace() {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.ExtraFiles, captures = []*os.File{w}, r
		defer w.Close() // ffmpeg has its own copy once started
	}
	if err := cmd.Start(); err != nil {
		if captures != nil {
			captures.Close()
		}
		return nil, err
	}
	if captures != nil {
		go traceCaptures(captures, f.log.With("job_id", jobID))
	}
	fd := &feed{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(fd.done)
		f.forget(jobID, fd)
		if err != nil && !fd.stopping.Load() {
			f.log.Warn("test feed exited", "job_id", jobID, "err", err, "stderr", stderr.String())
			return
		}
		f.log.Info("test feed stopped", "job_id", jobID)
	}()
	return fd, nil
}

// forget removes fd from the map unless a newer feed took its place.
func (f *Feeds) forget(jobID string, fd *feed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.feeds[jobID] == fd {
		delete(f.feeds, jobID)
	}
}

// Stop stops the feed of jobID and waits until ffmpeg has exited. Stopping a
// job that is not being fed is not an error.
func (f *Feeds) Stop(jobID string) error {
	f.mu.Lock()
	fd, ok := f.feeds[jobID]
	f.mu.Unlock()
	if !ok {
		return nil
	}
	if err := fd.stop(); err != nil {
		return fmt.Errorf("stop test feed for job %s: %w", jobID, err)
	}
	return nil
}

// Running reports whether ffmpeg is feeding jobID now.
func (f *Feeds) Running(jobID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, ok := f.feeds[jobID]
	return ok && !fd.exited()
}

// Close stops every feed and refuses new ones.
func (f *Feeds) Close() {
	f.mu.Lock()
	f.closed = true
	all := make([]*feed, 0, len(f.feeds))
	for _, fd := range f.feeds {
		all = append(all, fd)
	}
	f.mu.Unlock()
	for _, fd := range all {
		_ = fd.stop()
	}
}

// stop asks ffmpeg to finish (SIGINT flushes the FLV trailer), then kills it
// if it has not exited after a grace period.
func (fd *feed) stop() error {
	fd.stopping.Store(true)
	if err := fd.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-fd.done:
		return nil
	case <-time.After(3 * time.Second):
	}
	_ = fd.cmd.Process.Kill()
	<-fd.done
	return nil
}

func (fd *feed) exited() bool {
	select {
	case <-fd.done:
		return true
	default:
		return false
	}
}

// tail keeps the last max bytes written to it, for logging why ffmpeg died.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, nil)))
}
