package drm

import (
	"context"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/origin"
)

// mpdDoc reads what players read of a protected MPD.
type mpdDoc struct {
	Sets []struct {
		ContentType string `xml:"contentType,attr"`
		CPs         []struct {
			Scheme     string `xml:"schemeIdUri,attr"`
			Value      string `xml:"value,attr"`
			DefaultKID string `xml:"urn:mpeg:cenc:2013 default_KID,attr"`
			Laurl      string `xml:"https://dashif.org/CPS Laurl"`
		} `xml:"ContentProtection"`
		Representations []struct{} `xml:"Representation"`
	} `xml:"Period>AdaptationSet"`
}

// TestRewriteMPD checks a real ffmpeg MPD after rewriting: still valid XML,
// and every AdaptationSet carries the mp4protection element with the key
// id and the ClearKey element with our license URL.
func TestRewriteMPD(t *testing.T) {
	t.Parallel()
	dir := mediaDir(t)
	p := newPackager(t, jobsMap{"dj": drmSpec("dash", "fmp4")})
	out, err := encryptOne(t, p, "dj", "master.mpd", readFile(t, filepath.Join(dir, "dash", "master.mpd")), storedFiles{}.read)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := p.Keys.Key(context.Background(), "dj")
	var doc mpdDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("rewritten MPD is not XML: %v\n%s", err, out)
	}
	if len(doc.Sets) != 2 {
		t.Fatalf("%d adaptation sets, want 2", len(doc.Sets))
	}
	for _, s := range doc.Sets {
		if len(s.CPs) != 2 || len(s.Representations) != 1 {
			t.Fatalf("%s set: %d ContentProtection, %d Representation; want 2 and 1", s.ContentType, len(s.CPs), len(s.Representations))
		}
		cenc, ck := s.CPs[0], s.CPs[1]
		if cenc.Scheme != "urn:mpeg:dash:mp4protection:2011" || cenc.Value != "cenc" || cenc.DefaultKID != k.KID.UUID() {
			t.Errorf("%s set: mp4protection element %+v, want cenc with default_KID %s", s.ContentType, cenc, k.KID.UUID())
		}
		if ck.Scheme != "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" || ck.Laurl != "http://api.test:1080/drm/clearkey/dj?token="+origin.ViewerTokenMarker {
			t.Errorf("%s set: ClearKey element %+v", s.ContentType, ck)
		}
	}
}

// TestRewriteM3U8 checks the key line of each HLS flavour, placed before
// the first segment (and its EXT-X-MAP), and that master playlists and
// clear jobs are left alone.
func TestRewriteM3U8(t *testing.T) {
	t.Parallel()
	dir := mediaDir(t)
	p := newPackager(t, jobsMap{"h": drmSpec("hls", "fmp4"), "ts": drmSpec("hls", "mpegts"), "cm": drmSpec("dash", "cmaf"), "clear": {}})
	tests := []struct {
		job, file, want string
	}{
		{"h", "hls/video.m3u8", `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="http://api.test:1080/drm/key/h?token=`},
		{"ts", "ts/video.m3u8", `#EXT-X-KEY:METHOD=AES-128,URI="http://api.test:1080/drm/key/ts?token=`},
		{"cm", "hls/video.m3u8", `#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="http://api.test:1080/drm/key/cm?token=`},
		{"h", "hls/master.m3u8", ""},
		{"clear", "hls/video.m3u8", ""},
	}
	for _, tt := range tests {
		clear := readFile(t, filepath.Join(dir, tt.file))
		out, err := encryptOne(t, p, tt.job, filepath.Base(tt.file), clear, storedFiles{}.read)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if string(out) != string(clear) {
				t.Errorf("%s of %s was changed:\n%s", tt.file, tt.job, out)
			}
			continue
		}
		s := string(out)
		key := strings.Index(s, tt.want)
		first := min(idx(s, "#EXTINF"), idx(s, "#EXT-X-MAP"))
		if key < 0 || key > first || strings.Count(s, "#EXT-X-KEY") != 1 {
			t.Errorf("%s of %s: want one %q before the first segment, got:\n%s", tt.file, tt.job, tt.want, s)
		}
		if !strings.Contains(s, "token="+origin.ViewerTokenMarker+`"`) {
			t.Errorf("%s of %s: key URI lacks the viewer token's marker", tt.file, tt.job)
		}
	}
}

func idx(s, sub string) int {
	if i := strings.Index(s, sub); i >= 0 {
		return i
	}
	return len(s)
}

func TestInitSegmentFor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"chunk-g3p1-0-00012.m4s":   "init-g3p1-0.mp4",
		"chunk-g3p1-12-00001.m4s":  "init-g3p1-12.mp4",
		"video-720p-g3p1-1763.m4s": "video-720p-g3p1-init.mp4",
		"sub/audio-g0p0-7.m4s":     "sub/audio-g0p0-init.mp4",
	} {
		if got, ok := InitSegmentFor(in); !ok || got != want {
			t.Errorf("InitSegmentFor(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := InitSegmentFor("segment.m4s"); ok {
		t.Error("a name without a run has no init segment")
	}
}
