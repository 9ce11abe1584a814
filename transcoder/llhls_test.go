package transcoder

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// lowLatencyHLSSpec is a small LL-HLS fmp4 job (one 180p rendition and
// audio, 1 s segments) with a 60 s reconnect window.
func lowLatencyHLSSpec() jobspec.Spec {
	return mustValid(withWindow(jobspec.Spec{Output: jobspec.Output{
		Stream_type: "hls", Segment_format: "fmp4", Segment_duration: 1, Low_latency_mode: true,
		Video_outputs: []jobspec.VideoOutput{
			{Label: "low", Codec: "h264", Framerate: 25, Width: 320, Height: 180, Bitrate: "250k", Preset: "veryfast", Threads: 1, Gop_size: 1},
		},
		Audio_outputs: []jobspec.AudioOutput{{Label: "audio64k", Codec: "aac", Bitrate: "64k"}},
	}}, 60))
}

// TestLowLatencyHLS publishes to a low-latency HLS fmp4 job and reads its
// playlists from the real origin as a player does: media playlists the
// relay writes with a part per CMAF chunk (byte ranges of the segment in
// progress), a preload hint, blocking reload, parts that decode on their
// own from the start of a segment, and the end of the stream only when
// the job stops.
func TestLowLatencyHLS(t *testing.T) {
	t.Parallel()
	j := startJob(t, "llhls", lowLatencyHLSSpec())
	pub := publisher(j.ingestURL(), 8, "320x180")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
	base := j.origin.URL(j.id)
	video := base + ffmpeg.HLSMediaPlaylist(0)

	var pl llPlaylist
	testenv.WaitFor(t, 30*time.Second, "an LL-HLS playlist with two segments", func() bool {
		b, err := fetch(video, "")
		pl = parseLL(string(b))
		return err == nil && len(pl.segments) >= 2
	})
	for _, want := range []string{"#EXT-X-PART-INF:PART-TARGET=0.54\n", "CAN-BLOCK-RELOAD=YES",
		`#EXT-X-MAP:URI="init-g1p0-0.mp4"`, "#EXT-X-PROGRAM-DATE-TIME:"} {
		if !strings.Contains(pl.text, want) {
			t.Errorf("playlist lacks %q:\n%s", want, pl.text)
		}
	}
	master := getText(t, base+jobspec.HLSMaster)
	for _, want := range []string{ffmpeg.HLSMediaPlaylist(0), ffmpeg.HLSMediaPlaylist(1)} {
		if !strings.Contains(master, want) {
			t.Errorf("master playlist does not name %s:\n%s", want, master)
		}
	}

	// Blocking reload: ask for the part after the next one, which is a
	// second or so away (or the segment's end, when it has no such part).
	msn, part := pl.nextPart()
	part++
	blocked := parseLL(getText(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", video, msn, part)))
	if !blocked.has(msn, part) {
		t.Errorf("blocking reload for %d.%d answered without it:\n%s", msn, part, blocked.text)
	}

	// The first part of a segment decodes on its own, after the init segment.
	first := pl.segments[len(pl.segments)-1].parts[0]
	init := getBytes(t, base+"init-g1p0-0.mp4", "")
	chunk := getBytes(t, base+first.uri, fmt.Sprintf("bytes=%d-%d", first.offset, first.offset+first.length-1))
	if int64(len(chunk)) != first.length {
		t.Fatalf("part %s@%d: %d bytes, want %d", first.uri, first.offset, len(chunk), first.length)
	}
	if n := decodedFrames(t, append(init, chunk...)); n < 10 {
		t.Errorf("the first part of %s decodes to %d frames, want 13", first.uri, n)
	}

	var sawHint bool
	testenv.WaitFor(t, 30*time.Second, "the publisher's end", func() bool {
		sawHint = sawHint || strings.Contains(getText(t, video), "#EXT-X-PRELOAD-HINT:TYPE=PART")
		return !j.rep.last().InputLostSince.IsZero()
	})
	if !sawHint {
		t.Error("no playlist version had a preload hint")
	}
	if between := getText(t, video); strings.Contains(between, "#EXT-X-ENDLIST") {
		t.Errorf("the stream ended for players while the job runs:\n%s", between)
	}
	j.stop(t)

	last := parseLL(getText(t, video))
	if !strings.HasSuffix(last.text, "#EXT-X-ENDLIST\n") || strings.Contains(last.text, "PRELOAD-HINT") {
		t.Errorf("stopped job's playlist:\n%s", last.text)
	}
	// Parts tile every segment that still lists them.
	for _, s := range last.segments {
		if len(s.parts) == 0 {
			continue
		}
		fi, err := os.Stat(j.origin.Path(j.id, s.uri))
		if err != nil {
			t.Fatal(err)
		}
		var off int64
		for _, p := range s.parts {
			if p.offset != off {
				t.Errorf("%s: part at %d, want %d", s.uri, p.offset, off)
			}
			off += p.length
		}
		if off != fi.Size() {
			t.Errorf("%s: parts cover %d of %d bytes", s.uri, off, fi.Size())
		}
	}
	if _, denied, over := j.origin.snapshot(); denied > 0 || len(over) > 0 {
		t.Errorf("origin denied %d writes; overwritten: %v", denied, over)
	}
}

type llPart struct {
	uri            string
	offset, length int64
}

type llSegment struct {
	uri   string
	parts []llPart
}

// llPlaylist is what a test reads from an LL-HLS media playlist.
type llPlaylist struct {
	text       string
	firstMSN   int64
	segments   []llSegment // complete
	inProgress []llPart
}

var llPartRE = regexp.MustCompile(`^#EXT-X-PART:.*URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"`)

func parseLL(text string) llPlaylist {
	pl := llPlaylist{text: text}
	var parts []llPart
	afterInf := false
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			pl.firstMSN, _ = strconv.ParseInt(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			if m := llPartRE.FindStringSubmatch(line); m != nil {
				length, _ := strconv.ParseInt(m[2], 10, 64)
				off, _ := strconv.ParseInt(m[3], 10, 64)
				parts = append(parts, llPart{uri: m[1], offset: off, length: length})
			}
		case strings.HasPrefix(line, "#EXTINF:"):
			afterInf = true
		case afterInf && line != "" && !strings.HasPrefix(line, "#"):
			pl.segments = append(pl.segments, llSegment{uri: line, parts: parts})
			parts, afterInf = nil, false
		}
	}
	pl.inProgress = parts
	return pl
}

// nextPart is the media sequence number and part index after the last
// part listed.
func (pl llPlaylist) nextPart() (int64, int) {
	return pl.firstMSN + int64(len(pl.segments)), len(pl.inProgress)
}

// has reports whether part part of segment msn is listed.
func (pl llPlaylist) has(msn int64, part int) bool {
	last := pl.firstMSN + int64(len(pl.segments)) - 1
	return msn <= last || msn == last+1 && part < len(pl.inProgress)
}

func getText(t *testing.T, url string) string { return string(getBytes(t, url, "")) }

func getBytes(t *testing.T, url, rng string) []byte {
	t.Helper()
	b, err := fetch(url, rng)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fetch GETs url, with a Range header when rng is set.
func fetch(url, rng string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode >= 300 {
		err = fmt.Errorf("GET %s (%s): %s", url, rng, resp.Status)
	}
	return b, err
}

// decodedFrames is how many video frames ffprobe decodes from an fMP4.
func decodedFrames(t *testing.T, mp4 []byte) int {
	t.Helper()
	f := filepath.Join(t.TempDir(), "part.mp4")
	if err := os.WriteFile(f, mp4, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", f).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}
