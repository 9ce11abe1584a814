package ffmpeg

import (
	"strings"
	"testing"
)

func TestInitSegmentFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		segment, want string
		ok            bool
	}{
		{"chunk-g3p1-0-00012.m4s", "init-g3p1-0.mp4", true},
		{"chunk-g3p1-12-00001.m4s", DASHInitName("g3p1", 12), true},
		{"video-720p-g3p1-1763.m4s", "video-720p-g3p1-init.mp4", true},
		{"audio-g0p0-7.m4s", HLSInitName("audio", "g0p0"), true},
		{"init-g3p1-0.mp4", "", false},
		{"video-g3p1-init.mp4", "", false},
		{"video-g3p1-12.ts", "", false}, // mpegts has no init segment
		{"segment.m4s", "", false},
		{"video-3p1-12.m4s", "", false},
		{"-g3p1-12.m4s", "", false},
		{"video-g3p1-x.m4s", "", false},
	} {
		if got, ok := InitSegmentFor(c.segment); got != c.want || ok != c.ok {
			t.Errorf("InitSegmentFor(%q) = %q, %v; want %q, %v", c.segment, got, ok, c.want, c.ok)
		}
	}
}

// The hls muxer's init segment is named by the same rule InitSegmentFor reads.
func TestHLSInitNameMatchesTheArgs(t *testing.T) {
	t.Parallel()
	s := ffSampleSpec(t)
	s.Output.Stream_type, s.Output.Segment_format = "hls", "fmp4"
	args := Args(s, ffTarget)
	initName, _ := opt(args, "-hls_fmp4_init_filename")
	segName, _ := opt(args, "-hls_segment_filename")
	seg := strings.NewReplacer(ffTarget.OutputURL, "", "%v", "video365k", "%d", "1763").Replace(segName)
	got, ok := InitSegmentFor(seg)
	if want := strings.ReplaceAll(initName, "%v", "video365k"); !ok || got != want {
		t.Errorf("InitSegmentFor(%q) = %q, %v; the args name it %q", seg, got, ok, want)
	}
}

func TestRunOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		ok         bool
	}{
		{"chunk-g3p1-0-00012.m4s", "g3p1", true},
		{"init-g3p1-2.mp4", "g3p1", true},
		{"video-720p-g3p1-1763.m4s", "g3p1", true},
		{"video-720p-g3p1-1763.ts", "g3p1", true},
		{"audio-g0p0-init.mp4", "g0p0", true},
		{"master.m3u8", "", false},
		{"media_0.m3u8", "", false},
		{"thumbnail.jpg", "", false},
		{"-g3p1-12.m4s", "", false},
		{"video-3p1-12.m4s", "", false},
		{"video-g3p1-x.m4s", "", false},
	} {
		if got, ok := RunOf(c.name); got != c.want || ok != c.ok {
			t.Errorf("RunOf(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
