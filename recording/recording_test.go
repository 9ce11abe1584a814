package recording

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 6, 33, 30, 0, time.UTC)

// livePlaylist is a window of a live media playlist as ffmpeg's dash
// muxer writes it: segments from..to of run, 2 s each.
func livePlaylist(run string, from, to int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"init-%s-0.mp4\"\n", from, run)
	for n := from; n <= to; n++ {
		pdt := t0.Add(time.Duration(n) * 2 * time.Second).Format("2006-01-02T15:04:05.000-0700")
		fmt.Fprintf(&b, "#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:%s\nchunk-%s-0-%05d.m4s\n", pdt, run, n)
	}
	b.WriteString("#EXT-X-PART:DURATION=0.5,URI=\"x\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"y\"\n")
	return []byte(b.String())
}

func mustParse(t *testing.T, b []byte, prefix string) Playlist {
	t.Helper()
	p, err := ParseHLS(b, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func uris(p Playlist) []string {
	var out []string
	for _, s := range p.Segments {
		out = append(out, s.URI)
	}
	return out
}

func TestAppendKeepsEverySegmentOfTheRunOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		windows [][]byte
		want    []int
	}{
		{"sliding windows", [][]byte{livePlaylist("g1p0", 1, 3), livePlaylist("g1p0", 2, 4), livePlaylist("g1p0", 4, 6)}, []int{1, 2, 3, 4, 5, 6}},
		{"a missed version leaves no gap it could fill", [][]byte{livePlaylist("g1p0", 1, 2), livePlaylist("g1p0", 5, 7)}, []int{1, 2, 5, 6, 7}},
		{"an older version adds nothing", [][]byte{livePlaylist("g1p0", 3, 5), livePlaylist("g1p0", 1, 3)}, []int{3, 4, 5}},
		{"other runs are skipped", [][]byte{livePlaylist("g1p0", 1, 2), livePlaylist("g2p0", 1, 4)}, []int{1, 2}},
	} {
		var rec Playlist
		for _, w := range c.windows {
			Append(&rec, mustParse(t, w, ""), "g1p0")
		}
		var want []string
		for _, n := range c.want {
			want = append(want, fmt.Sprintf("chunk-g1p0-0-%05d.m4s", n))
		}
		if got := uris(rec); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", c.name, got, want)
		}
	}
}

func TestRenderHLSIsAVODPlaylistThatParsesBack(t *testing.T) {
	t.Parallel()
	var rec Playlist
	Append(&rec, mustParse(t, livePlaylist("g1p0", 1, 4), ""), "g1p0")
	out := RenderHLS(rec, "../../")
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD\n", "#EXT-X-ENDLIST\n", `#EXT-X-MAP:URI="../../init-g1p0-0.mp4"`, "\n../../chunk-g1p0-0-00001.m4s\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("rendered playlist has no %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("EXT-X-PART")) {
		t.Errorf("a VOD playlist lists parts:\n%s", out)
	}
	back := mustParse(t, out, "../../")
	if !reflect.DeepEqual(back.Segments, rec.Segments) {
		t.Errorf("parsed back %+v\nwant %+v", back.Segments, rec.Segments)
	}
	if d := back.Duration(); d != 8 {
		t.Errorf("duration %v, want 8", d)
	}
	if !IsMediaPlaylist(out) || IsMediaPlaylist([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n")) {
		t.Error("IsMediaPlaylist tells media and master playlists apart wrongly")
	}
}

func TestParseHLSRefusesBadPlaylists(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"hello\n", "#EXTM3U\n#EXTINF:x,\na.ts\n", "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n", "#EXTM3U\n#EXT-X-MAP:BYTERANGE=1\n"} {
		if _, err := ParseHLS([]byte(b), ""); err == nil {
			t.Errorf("ParseHLS(%q) took it", b)
		}
	}
}

// liveMPD is a window of ffmpeg's live MPD: segments from..to of run
// (video 2 s at timescale 12800 in representations 0 and 1, audio at
// 44100 in 2).
func liveMPD(run string, from, to int) []byte {
	n := to - from
	rep := func(id, ts int, d int, extra string) string {
		return fmt.Sprintf(`<Representation id="%d" mimeType="video/mp4" codecs="avc1.f4000c" bandwidth="300000">%s
<SegmentTemplate timescale="%d" initialization="init-%s-$RepresentationID$.mp4" media="chunk-%s-$RepresentationID$-$Number%%05d$.m4s" startNumber="%d">
<SegmentTimeline><S t="%d" d="%d" r="%d" /></SegmentTimeline></SegmentTemplate></Representation>`, id, extra, ts, run, run, from, (from-1)*d, d, n)
	}
	return []byte(`<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:mpeg:dash:schema:mpd:2011"
	xsi:schemaLocation="urn:mpeg:DASH:schema:MPD:2011 DASH-MPD.xsd" profiles="urn:mpeg:dash:profile:isoff-live:2011"
	type="dynamic" minimumUpdatePeriod="PT500S" suggestedPresentationDelay="PT4S" availabilityStartTime="2026-12-02T06:33:30.000Z"
	publishTime="2026-12-02T06:33:40.000Z" timeShiftBufferDepth="PT12.0S" maxSegmentDuration="PT2.0S" minBufferTime="PT4.0S">
<ProgramInformation></ProgramInformation>
<Period id="0" start="PT0.0S">
<AdaptationSet id="0" contentType="video" frameRate="25/1">` + rep(0, 12800, 25600, "") + rep(1, 12800, 25600, "") + `</AdaptationSet>
<AdaptationSet id="1" contentType="audio">` + rep(2, 44100, 88200, `<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="1" />`) + `</AdaptationSet>
</Period>
<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="https://time.akamai.com/?iso" />
</MPD>`)
}

func mustParseMPD(t *testing.T, b []byte, prefix string) *MPD {
	t.Helper()
	m, err := ParseMPD(b, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendMPDRendersAStaticMPDThatParsesBack(t *testing.T) {
	t.Parallel()
	var rec MPD
	var added []string
	for _, w := range [][2]int{{1, 3}, {2, 5}, {4, 7}} {
		live := mustParseMPD(t, liveMPD("g1p0", w[0], w[1]), "")
		if run, ok := live.Run(); !ok || run != "g1p0" {
			t.Fatalf("Run() = %q, %v", run, ok)
		}
		added = append(added, AppendMPD(&rec, live)...)
	}
	if len(added) != 3*8 || added[0] != "init-g1p0-0.mp4" && added[0] != "init-g1p0-1.mp4" && added[0] != "init-g1p0-2.mp4" {
		t.Errorf("added %d files (want 3 init segments and 21 segments): %v", len(added), added)
	}
	out := RenderMPD(&rec, "../../")
	for _, want := range []string{`type="static"`, `mediaPresentationDuration="PT14.000S"`, `xmlns="urn:mpeg:dash:schema:mpd:2011"`,
		`initialization="../../init-g1p0-$RepresentationID$.mp4"`, `startNumber="1"`, `<S t="0" d="25600" r="6"/>`, `<AudioChannelConfiguration`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("static MPD has no %s:\n%s", want, out)
		}
	}
	for _, gone := range []string{"availabilityStartTime", "minimumUpdatePeriod", "timeShiftBufferDepth", "UTCTiming", "publishTime"} {
		if bytes.Contains(out, []byte(gone)) {
			t.Errorf("static MPD keeps %s:\n%s", gone, out)
		}
	}
	back := mustParseMPD(t, out, "../../")
	if !reflect.DeepEqual(back.Timelines, rec.Timelines) {
		t.Errorf("parsed back %+v\nwant %+v", back.Timelines["2"], rec.Timelines["2"])
	}
	if n := len(back.Timelines["2"].Segments); n != 7 {
		t.Errorf("audio has %d segments, want 7", n)
	}
	clip := RenderMPD(CutMPD(back, 3, 4), "../../")
	if !bytes.Contains(clip, []byte(`startNumber="3"`)) || !bytes.Contains(clip, []byte(`presentationTimeOffset="51200"`)) ||
		!bytes.Contains(clip, []byte(`mediaPresentationDuration="PT4.000S"`)) {
		t.Errorf("clip of segments 3-4:\n%s", clip)
	}
}

func TestParseMPDRefusesBadMPDs(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"<html/>", "not xml", strings.Replace(string(liveMPD("g1p0", 1, 2)), `d="25600"`, `d="-1"`, 1)} {
		if _, err := ParseMPD([]byte(b), ""); err == nil {
			t.Errorf("ParseMPD took %.40q", b)
		}
	}
}

func TestCutAtSegmentBoundaries(t *testing.T) {
	t.Parallel()
	p := mustParse(t, livePlaylist("g1p0", 1, 10), "") // segment n spans t0+2n .. t0+2n+2 s
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, c := range []struct {
		name        string
		start, end  float64
		first, last int64
		err         error
	}{
		{"on boundaries", 4, 8, 2, 3, nil},
		{"inside segments widens to their boundaries", 4.5, 8.1, 2, 4, nil},
		{"from before the first segment", 0, 3, 1, 1, nil},
		{"past the live edge", 19, 40, 9, 10, nil},
		{"after everything", 30, 40, 0, 0, ErrEmptyClip},
	} {
		clip, span, err := Cut(p, at(c.start), at(c.end))
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if span.First != c.first || span.Last != c.last || len(clip.Segments) != int(c.last-c.first+1) {
			t.Errorf("%s: segments %d-%d (%d), want %d-%d", c.name, span.First, span.Last, len(clip.Segments), c.first, c.last)
		}
		if want := at(float64(2 * c.first)); !span.Start.Equal(want) || span.Start.After(at(c.start)) && c.start >= 2 {
			t.Errorf("%s: starts at %v, want %v", c.name, span.Start, want)
		}
		if got := CutNumbers(p, span.First, span.Last); !reflect.DeepEqual(got.Segments, clip.Segments) {
			t.Errorf("%s: CutNumbers differs from Cut", c.name)
		}
	}
	if edge := LiveEdge(p); !edge.Equal(at(22)) {
		t.Errorf("LiveEdge = %v, want %v", edge, at(22))
	}
}

// A DASH recording's clip is cut in offsets from its Span's start: a clip
// asked in seconds back from the edge, whose span starts where a segment
// ends, must not take that segment, even when the recording started
// between two milliseconds (Started is kept to the nanosecond).
func TestCutMPDTimeAtSegmentBoundaries(t *testing.T) {
	t.Parallel()
	m := mustParseMPD(t, liveMPD("g1p0", 1, 10), "") // segment n spans 2(n-1) .. 2n s, every representation
	started := time.Date(2026, 12, 2, 6, 33, 30, 600_000, time.UTC)
	start, edge := Info{Started: started, Duration: 20}.Span()
	for _, c := range []struct {
		name        string
		from, to    time.Time
		first, last int64
	}{
		{"the last 4 s", edge.Add(-4 * time.Second).Truncate(time.Millisecond), edge, 9, 10},
		{"on boundaries", start.Add(4 * time.Second), start.Add(8 * time.Second), 3, 4},
		{"inside segments widens to their boundaries", start.Add(4500 * time.Millisecond), start.Add(8001 * time.Millisecond), 3, 5},
	} {
		clip := CutMPDTime(m, c.from.Sub(start), c.to.Sub(start))
		for id, tl := range clip.Timelines {
			if n := len(tl.Segments); n == 0 || tl.Segments[0].Number != c.first || tl.Segments[n-1].Number != c.last {
				t.Errorf("%s: representation %s has %+v, want segments %d-%d", c.name, id, tl.Segments, c.first, c.last)
			}
		}
	}
}

// A live MPD places its segments on the wall clock: availabilityStartTime,
// plus the Period's start, plus media time less presentationTimeOffset.
func TestFirstProgramTime(t *testing.T) {
	t.Parallel()
	ast := time.Date(2026, 12, 2, 6, 33, 30, 0, time.UTC) // liveMPD's
	for _, c := range []struct {
		name string
		live string
		want time.Time
		ok   bool
	}{
		{"ffmpeg's form", string(liveMPD("g1p0", 3, 5)), ast.Add(4 * time.Second), true}, // segment 3 starts at 4 s
		{"a Period start", strings.Replace(string(liveMPD("g1p0", 3, 5)), `start="PT0.0S"`, `start="PT1M2.5S"`, 1), ast.Add(66500 * time.Millisecond), true},
		{"a presentationTimeOffset", strings.ReplaceAll(string(liveMPD("g1p0", 3, 5)), `timescale="12800"`, `timescale="12800" presentationTimeOffset="12800"`), ast.Add(3 * time.Second), true},
		{"static: no availabilityStartTime", strings.Replace(string(liveMPD("g1p0", 3, 5)), `availabilityStartTime="2026-12-02T06:33:30.000Z"`, "", 1), time.Time{}, false},
		{"a Period start it cannot read", strings.Replace(string(liveMPD("g1p0", 3, 5)), `start="PT0.0S"`, `start="P1D"`, 1), time.Time{}, false},
	} {
		live := mustParseMPD(t, []byte(c.live), "")
		var rec MPD
		AppendMPD(&rec, live)
		got, ok := FirstProgramTime(&rec, live)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("%s: FirstProgramTime = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// A DASH-only recording's storyboard is made of its lowest video
// representation's segments.
func TestLowestVideo(t *testing.T) {
	t.Parallel()
	live := strings.Replace(string(liveMPD("g1p0", 3, 4)), `bandwidth="300000">`, `bandwidth="900000">`, 1) // representation 0
	p, _, _, ok := mustParseMPD(t, []byte(live), "").LowestVideo()
	want := []Segment{{URI: "chunk-g1p0-1-00003.m4s", Map: "init-g1p0-1.mp4", Duration: 2}, {URI: "chunk-g1p0-1-00004.m4s", Map: "init-g1p0-1.mp4", Duration: 2}}
	if !ok || !reflect.DeepEqual(p.Segments, want) {
		t.Errorf("LowestVideo = %+v, %v; want %+v", p.Segments, ok, want)
	}
	audioOnly := regexp.MustCompile(`(?s)<AdaptationSet id="0".*?</AdaptationSet>`).ReplaceAllString(live, "")
	if _, _, _, ok := mustParseMPD(t, []byte(audioOnly), "").LowestVideo(); ok {
		t.Error("LowestVideo found video in an MPD of audio only")
	}
}

func TestExpandTemplate(t *testing.T) {
	t.Parallel()
	if got := expand("chunk-g1p0-$RepresentationID$-$Number%05d$.m4s", "2", 7); got != "chunk-g1p0-2-00007.m4s" {
		t.Errorf("expand = %q", got)
	}
	if got := expand("s-$Number$.m4s", "0", 12); got != "s-12.m4s" {
		t.Errorf("expand = %q", got)
	}
}
