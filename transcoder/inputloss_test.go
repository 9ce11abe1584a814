package transcoder

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// waitInput waits until the heartbeats say the input is lost (lost) or
// live again.
func (j *job) waitInput(t *testing.T, lost bool) time.Time {
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
func averageRGB(t *testing.T, path string) [3]byte {
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
	j.waitInput(t, true)
	j.stop(t)

	if r := j.rep.last().Stats.Restarts; r != 0 {
		t.Errorf("ffmpeg restarted %d times; the reconnect should keep one run", r)
	}
	if got := j.rep.states(); !slices.Equal(got, []string{StateListening, StateStreaming}) {
		t.Errorf("heartbeat states %v, want listening then streaming throughout", got)
	}
	if lostAt.IsZero() {
		t.Error("no heartbeat said the input was lost")
	}
	segs := j.origin.published("low-")
	if len(segs) < 6 {
		t.Fatalf("published %v, want at least 6 two-second segments", segs)
	}
	for i, s := range segs {
		if !strings.Contains(s, "-g1p0-") {
			t.Errorf("segment %s is not of the first run", s)
		}
		if i > 0 && seqOf(t, s) != seqOf(t, segs[i-1])+1 {
			t.Errorf("segment %s does not follow %s", s, segs[i-1])
		}
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
