package origin

import (
	"strings"
	"testing"
	"time"
)

// llPlaylist is the transcoder's LL-HLS media playlist of the package
// docs: two complete segments (1764000000, 1764000001), one part of the
// next and a preload hint.
const llPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-PART-INF:PART-TARGET=0.54
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.62,HOLD-BACK=3
#EXT-X-MEDIA-SEQUENCE:1764000000
#EXT-X-MAP:URI="init-g1p0-0.mp4"
#EXT-X-PART:DURATION=0.52,URI="chunk-g1p0-0-00000.m4s",BYTERANGE="75624@0",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.48,URI="chunk-g1p0-0-00000.m4s",BYTERANGE="65631@75624"
#EXTINF:1.00000,
chunk-g1p0-0-00000.m4s
#EXT-X-PART:DURATION=0.52,URI="chunk-g1p0-0-00001.m4s",BYTERANGE="75624@0",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.48,URI="chunk-g1p0-0-00001.m4s",BYTERANGE="65631@75624"
#EXT-X-PROGRAM-DATE-TIME:2025-11-24T16:00:01.000Z
#EXTINF:1.00000,
chunk-g1p0-0-00001.m4s
#EXT-X-PART:DURATION=0.52,URI="chunk-g1p0-0-00002.m4s",BYTERANGE="70000@0",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="chunk-g1p0-0-00002.m4s",BYTERANGE-START=70000
`

func TestScanPlaylist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		playlist string
		want     playlistEdge
		ok       bool
	}{
		{"ll-hls with parts and a preload hint", llPlaylist,
			playlistEdge{firstMSN: 1764000000, segments: 2, parts: 1, target: 1}, true},
		{"ll-hls, CRLF", strings.ReplaceAll(llPlaylist, "\n", "\r\n"),
			playlistEdge{firstMSN: 1764000000, segments: 2, parts: 1, target: 1}, true},
		{"ll-hls, a segment just completed",
			strings.Replace(llPlaylist, "#EXT-X-PART:DURATION=0.52,URI=\"chunk-g1p0-0-00002.m4s\"", "#EXT-X-X:", 1),
			playlistEdge{firstMSN: 1764000000, segments: 2, target: 1}, true},
		{"plain hls", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n" +
			"#EXTINF:4.0,\nseg_7.ts\n#EXTINF:4.0,\nseg_8.ts\n#EXTINF:3.5,\nseg_9.ts\n",
			playlistEdge{firstMSN: 7, segments: 3, target: 4}, true},
		{"no media sequence", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n",
			playlistEdge{segments: 1, target: 2}, true},
		{"tags between EXTINF and its URI", "#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:100@0\n\nv.ts\n#EXTINF:2,\n",
			playlistEdge{segments: 1}, true},
		{"ended", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n",
			playlistEdge{firstMSN: 3, segments: 1, ended: true}, true},
		{"empty playlist", "#EXTM3U\n", playlistEdge{}, true},
		{"master playlist", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n", playlistEdge{}, false},
		{"empty file", "", playlistEdge{}, false},
		{"not m3u", "<MPD/>\n#EXTM3U\n", playlistEdge{}, false},
		{"garbage media sequence", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n", playlistEdge{}, false},
		{"media sequence past 2^53", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:9007199254740992\n", playlistEdge{}, false},
		{"fractional target", "#EXTM3U\n#EXT-X-TARGETDURATION:1.5\n", playlistEdge{}, false},
		{"binary", "\x00\x01\xff#EXTINF:\n", playlistEdge{}, false},
	}
	for _, tt := range tests {
		got, ok := scanPlaylist([]byte(tt.playlist))
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPlaylistEdgeBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		edge    playlistEdge
		lastMSN int64
		hold    time.Duration
		maxAge  int64
	}{
		{playlistEdge{firstMSN: 10, segments: 3, target: 1}, 12, 3 * time.Second, 1},
		{playlistEdge{firstMSN: 10, target: 4}, 9, 12 * time.Second, 4},
		{playlistEdge{}, -1, 18 * time.Second, 6}, // no TARGETDURATION: 6 s
		{playlistEdge{target: 20}, -1, maxBlockingHold, 20},
		{playlistEdge{target: liveLastByte}, -1, maxBlockingHold, liveLastByte},
	}
	for _, tt := range tests {
		if got := tt.edge.lastMSN(); got != tt.lastMSN {
			t.Errorf("%+v: lastMSN %d, want %d", tt.edge, got, tt.lastMSN)
		}
		if got := tt.edge.hold(); got != tt.hold {
			t.Errorf("%+v: hold %v, want %v", tt.edge, got, tt.hold)
		}
		if got := tt.edge.targetSeconds(); got != tt.maxAge {
			t.Errorf("%+v: target %d s, want %d", tt.edge, got, tt.maxAge)
		}
	}
}

func TestReloadSatisfiedBy(t *testing.T) {
	t.Parallel()
	edge := playlistEdge{firstMSN: 100, segments: 2, parts: 1} // 100, 101 complete; 102 has part 0
	tests := []struct {
		req  reloadRequest
		want bool
	}{
		{reloadRequest{msn: 0}, true},
		{reloadRequest{msn: 101}, true},
		{reloadRequest{msn: 101, part: 9, hasPart: true}, true},
		{reloadRequest{msn: 102}, false},
		{reloadRequest{msn: 102, part: 0, hasPart: true}, true},
		{reloadRequest{msn: 102, part: 1, hasPart: true}, false},
		{reloadRequest{msn: 103, part: 0, hasPart: true}, false},
	}
	for _, tt := range tests {
		if got := tt.req.satisfiedBy(edge); got != tt.want {
			t.Errorf("%+v: satisfied %v, want %v", tt.req, got, tt.want)
		}
	}
}

// BenchmarkScanPlaylist: scanned at every wake-up of every blocked reader.
func BenchmarkScanPlaylist(b *testing.B) {
	playlist := []byte(llPlaylist + strings.Repeat("#EXTINF:1.00000,\nchunk-g1p0-0-00003.m4s\n", 30))
	b.SetBytes(int64(len(playlist)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := scanPlaylist(playlist); !ok {
			b.Fatal("not scanned")
		}
	}
}
