package recording

import (
	"strings"
	"testing"
)

func TestPlanStoryboard(t *testing.T) {
	for _, tt := range []struct {
		duration          float64
		w, h              int
		interval, tiles   int
		cols, rows, tileH int
	}{
		{4, 320, 240, 2, 2, 2, 1, 120},
		{5, 1280, 720, 2, 3, 3, 1, 90},
		{60, 0, 0, 2, 30, 10, 3, 90},
		{200, 640, 360, 2, 100, 10, 10, 90},
		{201, 640, 360, 3, 67, 10, 7, 90},
		{3600, 640, 360, 36, 100, 10, 10, 90},
		{0.5, 640, 360, 2, 1, 1, 1, 90},
	} {
		sb := PlanStoryboard(tt.duration, 7, tt.w, tt.h)
		if sb.Interval != tt.interval || sb.Tiles != tt.tiles || sb.Columns != tt.cols || sb.Rows != tt.rows ||
			sb.Width != StoryboardWidth || sb.Height != tt.tileH || sb.Tiles > StoryboardMaxTiles || sb.Tiles > sb.Columns*sb.Rows {
			t.Errorf("%.1f s of %dx%d: %+v", tt.duration, tt.w, tt.h, sb)
		}
		vtt := sb.RenderVTT()
		if n, ok := StoryboardSegments(vtt); !ok || n != 7 {
			t.Errorf("%.1f s: segments %d %v from\n%s", tt.duration, n, ok, vtt)
		}
		if cues := strings.Count(string(vtt), " --> "); cues != sb.Tiles {
			t.Errorf("%.1f s: %d cues, %d tiles", tt.duration, cues, sb.Tiles)
		}
	}
	if _, ok := StoryboardSegments([]byte("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nx.jpg\n")); ok {
		t.Error("an index without the NOTE names a segment count")
	}
}

func TestRenderStoryboardVTT(t *testing.T) {
	got := string(PlanStoryboard(25, 3, 320, 180).RenderVTT())
	want := "WEBVTT\n\nNOTE ezlive segments=3\n" +
		"\n00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90\n"
	if !strings.HasPrefix(got, want) ||
		!strings.HasSuffix(got, "\n00:00:24.000 --> 00:00:25.000\nstoryboard.jpg#xywh=320,90,160,90\n") {
		t.Errorf("got\n%s", got)
	}
}

func TestLowestVariant(t *testing.T) {
	for _, tt := range []struct {
		name, master, uri string
		w, h              int
		ok                bool
	}{
		{"by bandwidth", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\"\nmedia_0.m3u8\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS=\"avc1.42c01e,mp4a.40.2\",RESOLUTION=640x360\nmedia_1.m3u8\n", "media_1.m3u8", 640, 360, true},
		{"no resolution", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=300000\nv.m3u8\n", "v.m3u8", 0, 0, true},
		{"media tags are no variants", "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"a.m3u8\"\n", "", 0, 0, false},
		{"empty", "", "", 0, 0, false},
	} {
		uri, w, h, ok := LowestVariant([]byte(tt.master))
		if uri != tt.uri || w != tt.w || h != tt.h || ok != tt.ok {
			t.Errorf("%s: %q %dx%d %v", tt.name, uri, w, h, ok)
		}
	}
}
