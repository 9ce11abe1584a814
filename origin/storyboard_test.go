package origin

import (
	"bufio"
	"bytes"
	"fmt"
	"image/jpeg"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/recording"
)

// TestFFmpegStoryboard records 4 s, reads its storyboard (made by ffmpeg
// on the first read), checks its cues cover the recording and lie in the
// sprite, that a second read serves the stored files, and that a stale
// index (made from fewer segments) is made again. The job is signed: its
// storyboard is read under /play/ as its other files are.
func TestFFmpegStoryboard(t *testing.T) {
	t.Parallel()
	rec := newFakeRecordings()
	o := newFFmpegOriginConfig(t, Config{Recordings: rec, Viewers: viewersMap{
		signed: map[string]bool{"job1": true}, tokens: map[string]string{"tok1": "job1"}}})
	base := o.http.URL + "/live/job1/"
	o.runFFmpeg(t, true, "-f", "hls", "-hls_time", "1", "-hls_list_size", "2",
		"-hls_flags", "delete_segments+program_date_time", "-hls_segment_filename", base+"v-g1p0-%d.ts",
		"-master_pl_name", "master.m3u8", "-method", "PUT", "-headers", "Authorization: Bearer T\r\n", base+"v.m3u8")
	if resp, _ := o.get("/live/job1/recordings/g1p0/" + recording.StoryboardVTT); resp.StatusCode != 404 {
		t.Fatalf("a signed job's storyboard under /live/: %d, want 404", resp.StatusCode)
	}
	dir := "/play/tok1/job1/recordings/g1p0/"
	resp, vtt := o.get(dir + recording.StoryboardVTT)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/vtt" {
		t.Fatalf("GET storyboard.vtt: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), vtt)
	}
	resp, sprite := o.get(dir + recording.StoryboardImage)
	img, err := jpeg.DecodeConfig(bytes.NewReader(sprite))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET storyboard.jpg: %d %v", resp.StatusCode, err)
	}
	cues := parseStoryboard(t, vtt)
	info := rec.info("g1p0")
	if len(cues) == 0 || cues[0].from != 0 || cues[len(cues)-1].to < info.Duration-0.01 {
		t.Fatalf("cues %+v do not cover the recording's %.2f s", cues, info.Duration)
	}
	for i, c := range cues {
		if i > 0 && c.from != cues[i-1].to {
			t.Errorf("cue %d starts at %.3f, the one before ends at %.3f", i, c.from, cues[i-1].to)
		}
		if c.x < 0 || c.y < 0 || c.w != recording.StoryboardWidth || c.x+c.w > img.Width || c.y+c.h > img.Height {
			t.Errorf("cue %d: xywh %d,%d,%d,%d outside the %dx%d sprite", i, c.x, c.y, c.w, c.h, img.Width, img.Height)
		}
	}
	etags := func() string {
		a, _ := o.get(dir + recording.StoryboardVTT)
		b, _ := o.get(dir + recording.StoryboardImage)
		return a.Header.Get("ETag") + b.Header.Get("ETag")
	}
	first := etags()
	if again := etags(); again != first {
		t.Errorf("second read: ETags %s, first %s: the storyboard was made again", again, first)
	}
	stale := bytes.Replace(vtt, []byte("segments="), []byte("segments=1"), 1)
	if _, err := o.srv.store(t.Context(), "job1/recordings/g1p0/"+recording.StoryboardVTT, bytes.NewReader(stale)); err != nil {
		t.Fatal(err)
	}
	if _, remade := o.get(dir + recording.StoryboardVTT); !bytes.Equal(remade, vtt) {
		t.Errorf("a stale index was served:\n%s", remade)
	}
}

type storyboardCue struct {
	from, to   float64
	x, y, w, h int
}

// parseStoryboard parses a WebVTT storyboard index strictly enough to
// fail on a malformed one.
func parseStoryboard(t *testing.T, vtt []byte) []storyboardCue {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(vtt))
	if !sc.Scan() || sc.Text() != "WEBVTT" {
		t.Fatalf("no WEBVTT header:\n%s", vtt)
	}
	var cues []storyboardCue
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " --> ")
		if !ok {
			continue
		}
		var c storyboardCue
		c.from, c.to = vttSeconds(t, from), vttSeconds(t, to)
		if !sc.Scan() {
			t.Fatalf("cue without payload:\n%s", vtt)
		}
		if _, err := fmt.Sscanf(sc.Text(), recording.StoryboardImage+"#xywh=%d,%d,%d,%d", &c.x, &c.y, &c.w, &c.h); err != nil || c.to <= c.from {
			t.Fatalf("cue %q / %q: %v", from+" --> "+to, sc.Text(), err)
		}
		cues = append(cues, c)
	}
	return cues
}

func vttSeconds(t *testing.T, s string) float64 {
	t.Helper()
	parsed, err := time.Parse("15:04:05.000", s)
	if err != nil {
		t.Fatalf("cue time %q: %v", s, err)
	}
	h, m, sec := parsed.Clock()
	v, _ := strconv.ParseFloat(fmt.Sprintf("%d.%03d", h*3600+m*60+sec, parsed.Nanosecond()/1e6), 64)
	return v
}
