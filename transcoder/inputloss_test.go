package transcoder

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// waitInput waits until the heartbeats say the input is lost (lost) or
// live again.
func (j *job) waitInput(t testing.TB, lost bool) time.Time {
	t.Helper()
	var since time.Time
	testenv.WaitFor(t, 30*time.Second, "input lost = "+map[bool]string{true: "true", false: "false"}[lost], func() bool {
		since = j.rep.last().InputLostSince
		return !since.IsZero() == lost
	})
	return since
}

// averageRGB decodes a segment's last frame to one pixel: the picture's
// average colour.
func averageRGB(t testing.TB, path string) [3]byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path,
		"-vf", "scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || out.Len() < 3 {
		t.Fatalf("decode %s: %v %s", path, err, errb.String())
	}
	b := out.Bytes()[out.Len()-3:]
	return [3]byte{b[0], b[1], b[2]}
}

// isSlate: the built-in card is white text on 0x1d3557.
func isSlate(c [3]byte) bool {
	return c[2] > 70 && int(c[2]) > int(c[0])+30 && c[0] < 70
}

// TestPublisherComesBackOnTheSameTimeline: the publisher leaves and comes
// back within the reconnect window. ffmpeg never stops: one run, segment
// numbers that go on by one, no discontinuity after the first segment, the
// slate in the segments of the gap, and the input's loss and return in the
// heartbeats.
func TestPublisherComesBackOnTheSameTimeline(t *testing.T) {
	t.Parallel()
	spec := mustValid(withWindow(smallLadder("hls", "mpegts", 2, "h264"), 60))
	j := startJob(t, "comeback", spec)
	j.origin.keepAll.Store(true)
	publish(t, j.ingestURL(), 5, "640x360")
	lostAt := j.waitInput(t, true)
	time.Sleep(4 * time.Second)
	publish(t, j.ingestURL(), 5, "640x360")
	lostAgain := j.waitInput(t, true)
	j.stop(t)

	if r := j.rep.last().Stats.Restarts; r != 0 {
		t.Errorf("ffmpeg restarted %d times; the reconnect should keep one run", r)
	}
	if got := j.rep.states(); !slices.Equal(got, []string{StateListening, StateStreaming}) {
		t.Errorf("heartbeat states %v, want listening then streaming throughout", got)
	}
	if !lostAgain.After(lostAt) {
		t.Errorf("the input was lost at %v and again at %v: never restored in between", lostAt, lostAgain)
	}
	segs := oneRun(t, j, "low-g1p0-", 6)
	if all := j.origin.published("low-"); len(all) != len(segs) {
		t.Errorf("segments of another run: %v", all)
	}
	video, _ := parseHLSMaster(t, j.origin.Path(j.id, ""))
	for _, r := range video {
		for i, s := range r.segments {
			if s.disc && i > 0 {
				t.Errorf("%s: EXT-X-DISCONTINUITY before %s", r.name, s.name)
			}
		}
	}
	var colours []string
	slate := 0
	for _, s := range segs {
		c := averageRGB(t, j.origin.Path(j.id, s))
		colours = append(colours, s+" "+string(rune('0'+boolInt(isSlate(c)))))
		if isSlate(c) {
			slate++
		}
	}
	t.Logf("segments, 1 where the slate shows: %v", colours)
	if slate < 2 || isSlate(averageRGB(t, j.origin.Path(j.id, segs[0]))) {
		t.Errorf("want the slate in the gap's segments and not at the start: %v", colours)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestWindowPasses: a publisher that never comes back. The slate plays for
// the reconnect window, then the stream ends cleanly (ENDLIST), ffmpeg is
// gone, and the heartbeats say listening with the input still lost.
func TestWindowPasses(t *testing.T) {
	t.Parallel()
	spec := mustValid(withWindow(smallLadder("hls", "fmp4", 2, "h264"), 4))
	j := startJob(t, "window", spec)
	j.origin.keepAll.Store(true)
	publish(t, j.ingestURL(), 4, "640x360")
	lostAt := j.waitInput(t, true)
	j.waitRunsEnded(t, 1)
	if ended := time.Since(lostAt); ended < 4*time.Second {
		t.Errorf("the stream ended %v after the loss, before the 4 s window", ended)
	}
	if got := j.rep.last(); !got.InputLostSince.Equal(lostAt) {
		t.Errorf("after the window the input is lost since %v, want still %v", got.InputLostSince, lostAt)
	}
	// The next period's ffmpeg waits, idle, for the publisher; the ended
	// one is gone.
	if pid := ffmpegOfPeriod(t, j, 0); alive(pid) {
		t.Errorf("the ended run's ffmpeg (pid %d) still runs after the window passed", pid)
	}
	video, audio := parseHLSMaster(t, j.origin.Path(j.id, ""))
	for _, r := range append(video, audio...) {
		if !r.ended {
			t.Errorf("%s: no EXT-X-ENDLIST after the window passed", r.name)
		}
	}
	segs := j.origin.published("low-")
	if n := len(segs); n < 3 || !isSlate(averageRGB(t, decodable(t, j, segs[n-1]))) {
		t.Errorf("want the stream to end on the slate: %v", segs)
	}
}

// decodable is a file ffmpeg can decode for a segment of the job: the
// segment itself, or for fmp4 its rendition's init segment and it.
func decodable(t testing.TB, j *job, seg string) string {
	t.Helper()
	path := j.origin.Path(j.id, seg)
	if !strings.HasSuffix(seg, ".m4s") {
		return path
	}
	label, _, _ := strings.Cut(seg, "-")
	inits, _ := filepath.Glob(j.origin.Path(j.id, "*init*"))
	i := slices.IndexFunc(inits, func(p string) bool { return strings.Contains(filepath.Base(p), label) })
	if i < 0 {
		t.Fatalf("no init segment for %s among %v", seg, inits)
	}
	init, err := os.ReadFile(inits[i])
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(out, append(init, body...), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// ffmpegOfPeriod is the pid of the job's ffmpeg of period, from the
// transcoder's log ("ffmpeg ready" names it).
func ffmpegOfPeriod(t testing.TB, j *job, period int) int {
	t.Helper()
	m := regexp.MustCompile(`msg="ffmpeg ready".* period=` + strconv.Itoa(period) + ` pid=(\d+)`).FindStringSubmatch(j.logs.String())
	if m == nil {
		t.Fatalf("the transcoder never logged its ffmpeg of period %d", period)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// TestSlateURLMustBePublic: a job's Slate_url that points at a loopback,
// private or link-local address is not fetched on a fleet.
func TestSlateURLMustBePublic(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"http://127.0.0.1:1/slate.png", "http://10.0.0.1:1/s.png", "http://169.254.169.254/latest/meta-data/", "http://[::1]:1/s.png"} {
		if _, err := fetchSlate(t.Context(), url, false); err == nil || !strings.Contains(err.Error(), "not a public address") {
			t.Errorf("%s: %v, want refused as not public", url, err)
		}
	}
}

// TestSlateFromURL: the job's Slate_url is fetched once when the
// transcoder starts and shown while the input is lost.
func TestSlateFromURL(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 36))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{R: 200, A: 255}}, image.Point{}, draw.Src)
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		w.Write(buf.Bytes())
	}))
	defer srv.Close()
	spec := withWindow(smallLadder("hls", "mpegts", 2, "h264"), 30)
	spec.Input_loss.Slate_url = srv.URL + "/red.png"
	j := startJob(t, "slateurl", mustValid(spec))
	j.origin.keepAll.Store(true)
	publish(t, j.ingestURL(), 3, "640x360")
	j.waitInput(t, true)
	time.Sleep(3 * time.Second)
	j.stop(t)
	segs := oneRun(t, j, "low-g1p0-", 2)
	last := averageRGB(t, j.origin.Path(j.id, segs[len(segs)-1]))
	if last[0] < 150 || last[1] > 60 || last[2] > 60 {
		t.Errorf("the last segment's picture averages %v, want the red slate image", last)
	}
	if n := fetched.Load(); n != 1 {
		t.Errorf("the slate image was fetched %d times, want once", n)
	}
}

// TestAudioOnlyJobThroughALoss: an audio-only job with a publisher that
// sends audio alone starts, fills the publisher's absence with silence and
// goes on in the same run when it comes back.
func TestAudioOnlyJobThroughALoss(t *testing.T) {
	t.Parallel()
	spec := smallLadder("hls", "mpegts", 2, "h264")
	spec.Output.Video_outputs = nil
	j := startJob(t, "audioonly", mustValid(withWindow(spec, 60)))
	j.origin.keepAll.Store(true)
	radio := func(seconds string) {
		out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", seconds,
			"-c:a", "aac", "-b:a", "96k", "-f", "flv", j.ingestURL()).CombinedOutput()
		if err != nil {
			t.Fatalf("audio publisher: %v\n%s", err, out)
		}
	}
	radio("5")
	lostAt := j.waitInput(t, true)
	time.Sleep(3 * time.Second)
	radio("4")
	if again := j.waitInput(t, true); !again.After(lostAt) {
		t.Errorf("the input was lost at %v and again at %v: never restored in between", lostAt, again)
	}
	time.Sleep(time.Second)
	j.stop(t)
	segs := oneRun(t, j, "audio96k-g1p0-", 5)
	if a := probe(t, j.origin.Path(j.id, segs[len(segs)/2]), "a:0"); a.codec != "aac" {
		t.Errorf("audio of %s: %+v", segs[len(segs)/2], a)
	}
}

// oneRun returns the job's published segments named prefix* in number
// order, checking there are at least n, all of one run (no second period)
// and numbered one after the other. The last segments may reach the origin
// out of order when a stop flushes them, hence the sort.
func oneRun(t testing.TB, j *job, prefix string, n int) []string {
	t.Helper()
	segs := j.origin.published(prefix)
	slices.SortFunc(segs, func(a, b string) int { return int(seqOf(t, a) - seqOf(t, b)) })
	if len(segs) < n || len(j.origin.published("-g1p1-")) > 0 {
		t.Fatalf("want one run of at least %d segments %s*; published %v", n, prefix, j.origin.published(""))
	}
	for i, s := range segs {
		if i > 0 && seqOf(t, s) != seqOf(t, segs[i-1])+1 {
			t.Errorf("segment %s does not follow %s", s, segs[i-1])
		}
	}
	return segs
}
