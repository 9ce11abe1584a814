package llhls

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func addParts(p *Playlist, uri string, durations ...float64) {
	var off int64
	for i, d := range durations {
		p.AddPart(uri, Part{Offset: off, Length: 100, Duration: d, Independent: i == 0}, t0)
		off += 100
	}
}

func TestPlaylistListsPartsAndAHintForTheSegmentInProgress(t *testing.T) {
	p := NewPlaylist(1000, 1, 0.54, 6)
	p.Begin("s1.m4s", "init.mp4", false)
	p.AtOrigin("s1.m4s")
	addParts(p, "s1.m4s", 0.52, 0.48)
	p.Complete("s1.m4s")
	p.Begin("s2.m4s", "init.mp4", false)
	addParts(p, "s2.m4s", 0.52)
	got := string(p.Render())
	want := `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-PART-INF:PART-TARGET=0.54
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.62,HOLD-BACK=3
#EXT-X-MEDIA-SEQUENCE:1000
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T10:00:00.000Z
#EXT-X-PART:DURATION=0.52,URI="s1.m4s",BYTERANGE="100@0",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.48,URI="s1.m4s",BYTERANGE="100@100"
#EXTINF:1,
s1.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-24T10:00:00.000Z
#EXT-X-PART:DURATION=0.52,URI="s2.m4s",BYTERANGE="100@0",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s2.m4s",BYTERANGE-START=100
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// No hint for a segment the origin does not follow yet: a player asking
// for it would get 404.
func TestPlaylistHintsOnlyUploadsAtTheOrigin(t *testing.T) {
	p := NewPlaylist(1, 1, 0.54, 6)
	p.Begin("s1.m4s", "init.mp4", false)
	addParts(p, "s1.m4s", 0.5, 0.5)
	p.Complete("s1.m4s")
	p.Begin("s2.m4s", "init.mp4", false)
	if got := string(p.Render()); strings.Contains(got, "PRELOAD-HINT") {
		t.Errorf("hint before the origin has the upload:\n%s", got)
	}
	p.AtOrigin("s2.m4s")
	if got := string(p.Render()); !strings.Contains(got, `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s2.m4s",BYTERANGE-START=0`) {
		t.Errorf("no hint for the upload at the origin:\n%s", got)
	}
}

// The window keeps the last segments; parts are listed only for those
// within three target durations of the end; a new run is a discontinuity
// with its own EXT-X-MAP, counted once it leaves the window.
func TestPlaylistWindowDiscontinuityAndInit(t *testing.T) {
	p := NewPlaylist(1, 1, 0.54, 3)
	segs := []struct{ uri, init string }{
		{"a1", "ia"}, {"a2", "ia"}, {"b1", "ib"}, {"b2", "ib"}, {"b3", "ib"}, {"b4", "ib"},
	}
	for i, s := range segs {
		p.Begin(s.uri, s.init, i == 2)
		addParts(p, s.uri, 0.5, 0.5)
		p.Complete(s.uri)
		if i == 3 {
			got := string(p.Render())
			for _, want := range []string{"#EXT-X-MEDIA-SEQUENCE:2\n", "#EXT-X-DISCONTINUITY-SEQUENCE:0\n",
				"#EXT-X-MAP:URI=\"ia\"\n", "a2\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"ib\"\n"} {
				if !strings.Contains(got, want) {
					t.Errorf("after %s: no %q in\n%s", s.uri, want, got)
				}
			}
		}
	}
	got := string(p.Render())
	for _, want := range []string{"#EXT-X-MEDIA-SEQUENCE:4\n", "#EXT-X-DISCONTINUITY-SEQUENCE:1\n", "#EXT-X-MAP:URI=\"ib\"\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "#EXT-X-DISCONTINUITY\n") || strings.Contains(got, "a2") {
		t.Errorf("the old run is still listed:\n%s", got)
	}
	// 3 segments of 1 s: all within 3 target durations.
	if n := strings.Count(got, "#EXT-X-PART:"); n != 6 {
		t.Errorf("%d parts listed, want 6:\n%s", n, got)
	}
	p = NewPlaylist(1, 1, 0.54, 6)
	for _, s := range segs {
		p.Begin(s.uri, "i", false)
		addParts(p, s.uri, 0.5, 0.5)
		p.Complete(s.uri)
	}
	if got := string(p.Render()); strings.Count(got, "#EXT-X-PART:") != 6 || strings.Contains(got, `URI="b1"`) {
		t.Errorf("parts of segments older than 3 target durations are listed:\n%s", got)
	}
}

func TestPlaylistEndsOnceTheLastSegmentIsComplete(t *testing.T) {
	p := NewPlaylist(1, 1, 0.54, 6)
	p.Begin("s1", "i", false)
	addParts(p, "s1", 0.5)
	p.End()
	if p.Ended() || strings.Contains(string(p.Render()), "ENDLIST") {
		t.Fatal("ended with a segment in progress")
	}
	addParts(p, "s1", 0.5)
	p.Complete("s1")
	got := string(p.Render())
	if !p.Ended() || !strings.HasSuffix(got, "s1\n#EXT-X-ENDLIST\n") || strings.Contains(got, "HINT") {
		t.Errorf("not ended:\n%s", got)
	}
	// The encoder's last segment can begin after its end of stream
	// arrived: it is still the end.
	p.Begin("s2", "i", false)
	addParts(p, "s2", 0.04)
	p.Complete("s2")
	if !p.Ended() || !strings.HasSuffix(string(p.Render()), "s2\n#EXT-X-ENDLIST\n") {
		t.Errorf("a late last segment reopened the playlist:\n%s", p.Render())
	}
	p.Reopen()
	if p.Ended() {
		t.Error("Reopen did not reopen the playlist")
	}
}

// A failed upload leaves no trace but a discontinuity; a segment whose
// chunks could not be read is dropped the same way.
func TestPlaylistDropsFailedSegments(t *testing.T) {
	p := NewPlaylist(1, 1, 0.54, 6)
	p.Begin("s1", "i", false)
	addParts(p, "s1", 0.5, 0.5)
	p.Complete("s1")
	p.Begin("s2", "i", false)
	addParts(p, "s2", 0.5)
	p.Begin("s3", "i", false)
	p.Abort("s2")
	addParts(p, "s3", 0.5, 0.5)
	p.Complete("s3")
	p.Begin("s4", "i", false)
	p.Complete("s4") // no parts
	p.Begin("s5", "i", false)
	got := string(p.Render())
	if strings.Contains(got, "s2") || strings.Contains(got, "s4") ||
		!strings.Contains(got, "s1\n#EXT-X-DISCONTINUITY\n") || !strings.Contains(got, "s3\n") {
		t.Errorf("got\n%s", got)
	}
}

// A segment longer than the target raises it: HLS forbids EXTINF above it.
func TestPlaylistTargetDurationCoversTheLongestSegment(t *testing.T) {
	p := NewPlaylist(1, 1, 0.54, 6)
	p.Begin("s1", "i", false)
	addParts(p, "s1", 0.5, 0.5, 0.5, 0.5)
	p.Complete("s1")
	if got := string(p.Render()); !strings.Contains(got, "#EXT-X-TARGETDURATION:2\n") {
		t.Errorf("got\n%s", got)
	}
}

func TestPlaylistLastPartAndReports(t *testing.T) {
	p := NewPlaylist(100, 1, 0.54, 6)
	if _, _, ok := p.LastPart(); ok {
		t.Error("an empty playlist has a last part")
	}
	p.Begin("s1", "i", false)
	addParts(p, "s1", 0.5, 0.5)
	p.Complete("s1")
	p.Begin("s2", "i", false)
	if msn, part, ok := p.LastPart(); !ok || msn != 100 || part != 1 {
		t.Errorf("last part %d.%d %v, want 100.1", msn, part, ok)
	}
	addParts(p, "s2", 0.5)
	if msn, part, _ := p.LastPart(); msn != 101 || part != 0 {
		t.Errorf("last part %d.%d, want 101.0", msn, part)
	}
	got := string(p.Render(Report{URI: "media_1.m3u8", LastMSN: 101, LastPart: 0}))
	if !strings.HasSuffix(got, "\n#EXT-X-RENDITION-REPORT:URI=\"media_1.m3u8\",LAST-MSN=101,LAST-PART=0\n") {
		t.Errorf("got\n%s", got)
	}
}
