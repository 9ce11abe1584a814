package transcoder

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// TestDVRWindow: with Output.Time_shift_buffer_depth, the live manifests
// list the whole window (more than the default LiveWindow), every segment
// they list is at the origin, and a DASH MPD says how far back players may
// seek.
func TestDVRWindow(t *testing.T) {
	const depth, window = 9.0, 9 // 1 s segments
	cases := []struct {
		name, stream, format string
		lowLatency           bool
	}{
		{"hls-mpegts", "hls", "mpegts", false},
		{"dash-fmp4", "dash", "fmp4", false},
		{"ll-hls", "hls", "cmaf", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := smallLadder(c.stream, c.format, 2, "h264")
			s.Output.Segment_duration, s.Output.Video_outputs[1].Gop_size = 1, 1
			s.Output.Low_latency_mode = jobspec.Flag(c.lowLatency)
			s.Output.Time_shift_buffer_depth = depth
			spec := mustValid(s)
			if jobspec.WindowSegments(spec.Output) != window {
				t.Fatalf("WindowSegments = %d, want %d", jobspec.WindowSegments(spec.Output), window)
			}
			j := startJob(t, "dvr-"+c.name, spec)
			pub := publisher(j.ingestURL(), 30, "426x240")
			if err := pub.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
			dir := j.origin.Path(j.id, "")
			listed := func() []rendition {
				m := jobspec.ManifestNames(spec)[0]
				if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
					return nil
				}
				if filepath.Ext(m) == ".mpd" {
					v, _, _ := parseMPD(t, dir)
					return v
				}
				v, _ := parseHLSMaster(t, dir)
				return v
			}
			testenv.WaitFor(t, 60*time.Second, "a full DVR window", func() bool {
				if c.stream == "hls" {
					return hlsSegmentsListed(dir) >= window
				}
				v := listed()
				return len(v) > 0 && len(v[0].segments) >= window
			})
			// The renditions' playlists are written one after another.
			testenv.WaitFor(t, 10*time.Second, "every rendition's full DVR window", func() bool {
				for _, r := range listed() {
					if len(r.segments) < window {
						return false
					}
				}
				return true
			})
			for _, r := range listed() {
				if n := len(r.segments); n != window {
					t.Errorf("%s lists %d segments, want the window's %d", r.name, n, window)
				}
				// The newest may still be on its way: a manifest can be
				// uploaded beside it.
				for _, s := range r.segments[:len(r.segments)-1] {
					if _, err := os.Stat(filepath.Join(dir, s.name)); err != nil {
						t.Errorf("%s lists %s, which is not at the origin: %v", r.name, s.name, err)
					}
				}
			}
			if c.stream == "dash" {
				mpd, err := os.ReadFile(filepath.Join(dir, jobspec.DASHMaster))
				if err != nil {
					t.Fatal(err)
				}
				depthAttr := regexp.MustCompile(`timeShiftBufferDepth="PT([0-9.]+)S"`).FindSubmatch(mpd)
				if got := secondsOf(depthAttr); got < depth-0.5 {
					t.Errorf("live MPD's timeShiftBufferDepth %q, want the window's 9 s:\n%s", depthAttr, mpd)
				}
			}
		})
	}
}

// secondsOf reads the number of a PT<n>S match; 0 when there is none.
func secondsOf(m [][]byte) float64 {
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return f
}

// hlsSegmentsListed counts the segments of the master playlist's first
// variant; 0 while either playlist is not at the origin yet.
func hlsSegmentsListed(dir string) int {
	master, err := os.ReadFile(filepath.Join(dir, jobspec.HLSMaster))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(master), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			media, err := os.ReadFile(filepath.Join(dir, l))
			if err != nil {
				return 0
			}
			return strings.Count(string(media), "#EXTINF:")
		}
	}
	return 0
}
