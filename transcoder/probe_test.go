package transcoder

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// rendition is what a manifest says about one stream and where its media is.
type rendition struct {
	name          string
	video         bool
	width, height int
	fps           float64 // 0 when the manifest does not say
	init          string  // initialisation segment; "" for mpegts
	segments      []segment
	ended         bool // HLS ENDLIST or a static MPD
}

type segment struct {
	name string
	dur  float64
	seq  int64
	disc bool // EXT-X-DISCONTINUITY before it
}

var attrRe = regexp.MustCompile(`([A-Z0-9-]+)=("[^"]*"|[^,]*)`)

func m3u8Attrs(line string) map[string]string {
	m := map[string]string{}
	_, rest, _ := strings.Cut(line, ":")
	for _, kv := range attrRe.FindAllStringSubmatch(rest, -1) {
		m[kv[1]] = strings.Trim(kv[2], `"`)
	}
	return m
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// parseHLSMaster reads a master playlist and every media playlist it names.
func parseHLSMaster(t *testing.T, dir string) (video, audio []rendition) {
	t.Helper()
	lines := readLines(t, filepath.Join(dir, "master.m3u8"))
	if len(lines) == 0 || lines[0] != "#EXTM3U" {
		t.Fatalf("master.m3u8 is not a playlist: %q", lines)
	}
	seen := map[string]bool{}
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA:"):
			a := m3u8Attrs(l)
			if a["TYPE"] == "AUDIO" && a["URI"] != "" && !seen[a["URI"]] {
				seen[a["URI"]] = true
				audio = append(audio, parseHLSMedia(t, dir, a["URI"], rendition{name: a["NAME"]}))
			}
		case strings.HasPrefix(l, "#EXT-X-STREAM-INF:") && i+1 < len(lines):
			a := m3u8Attrs(l)
			uri := lines[i+1]
			r := rendition{name: strings.TrimSuffix(uri, ".m3u8")}
			res := a["RESOLUTION"]
			if res == "" { // ffmpeg's audio-only variant of an audio group
				if !seen[uri] {
					seen[uri] = true
					audio = append(audio, parseHLSMedia(t, dir, uri, r))
				}
				continue
			}
			w, h, _ := strings.Cut(res, "x")
			r.video = true
			r.width, _ = strconv.Atoi(w)
			r.height, _ = strconv.Atoi(h)
			r.fps, _ = strconv.ParseFloat(a["FRAME-RATE"], 64)
			seen[uri] = true
			video = append(video, parseHLSMedia(t, dir, uri, r))
		}
	}
	return video, audio
}

func parseHLSMedia(t *testing.T, dir, uri string, r rendition) rendition {
	t.Helper()
	lines := readLines(t, filepath.Join(dir, uri))
	var seq int64
	var dur float64
	disc := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			seq, _ = strconv.ParseInt(strings.TrimPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(l, "#EXT-X-MAP:"):
			r.init = m3u8Attrs(l)["URI"]
		case strings.HasPrefix(l, "#EXTINF:"):
			d, _, _ := strings.Cut(strings.TrimPrefix(l, "#EXTINF:"), ",")
			dur, _ = strconv.ParseFloat(d, 64)
		case l == "#EXT-X-DISCONTINUITY":
			disc = true
		case l == "#EXT-X-ENDLIST":
			r.ended = true
		case !strings.HasPrefix(l, "#"):
			r.segments = append(r.segments, segment{name: l, dur: dur, seq: seq, disc: disc})
			seq++
			disc = false
		}
	}
	return r
}

type mpdDoc struct {
	Type    string `xml:"type,attr"`
	Periods []struct {
		Sets []struct {
			ContentType string       `xml:"contentType,attr"`
			FrameRate   string       `xml:"frameRate,attr"`
			Template    *mpdTemplate `xml:"SegmentTemplate"`
			Reps        []struct {
				ID        string       `xml:"id,attr"`
				Width     int          `xml:"width,attr"`
				Height    int          `xml:"height,attr"`
				FrameRate string       `xml:"frameRate,attr"`
				MimeType  string       `xml:"mimeType,attr"`
				Template  *mpdTemplate `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

type mpdTemplate struct {
	Timescale   float64 `xml:"timescale,attr"`
	Init        string  `xml:"initialization,attr"`
	Media       string  `xml:"media,attr"`
	StartNumber int64   `xml:"startNumber,attr"`
	S           []struct {
		D float64 `xml:"d,attr"`
		R int     `xml:"r,attr"`
	} `xml:"SegmentTimeline>S"`
}

var numberRe = regexp.MustCompile(`\$Number(%0(\d+)d)?\$`)

// parseMPD reads master.mpd and lists each representation's segments.
func parseMPD(t *testing.T, dir string) (video, audio []rendition, mpdType string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "master.mpd"))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var doc mpdDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("master.mpd: %v", err)
	}
	if len(doc.Periods) != 1 {
		t.Fatalf("master.mpd has %d periods, want 1", len(doc.Periods))
	}
	for _, set := range doc.Periods[0].Sets {
		for _, rep := range set.Reps {
			tmpl := rep.Template
			if tmpl == nil {
				tmpl = set.Template
			}
			if tmpl == nil {
				t.Fatalf("representation %s has no SegmentTemplate", rep.ID)
			}
			r := rendition{name: rep.ID, width: rep.Width, height: rep.Height, ended: doc.Type == "static"}
			r.video = set.ContentType == "video" || strings.HasPrefix(rep.MimeType, "video")
			fr := rep.FrameRate
			if fr == "" {
				fr = set.FrameRate
			}
			r.fps = ratio(fr)
			r.init = strings.ReplaceAll(tmpl.Init, "$RepresentationID$", rep.ID)
			n := tmpl.StartNumber
			for _, s := range tmpl.S {
				for range s.R + 1 {
					name := strings.ReplaceAll(tmpl.Media, "$RepresentationID$", rep.ID)
					name = numberRe.ReplaceAllStringFunc(name, func(m string) string {
						w := numberRe.FindStringSubmatch(m)[2]
						if w == "" {
							return strconv.FormatInt(n, 10)
						}
						return fmt.Sprintf("%0"+w+"d", n)
					})
					r.segments = append(r.segments, segment{name: name, dur: s.D / tmpl.Timescale, seq: n})
					n++
				}
			}
			if r.video {
				video = append(video, r)
			} else {
				audio = append(audio, r)
			}
		}
	}
	return video, audio, doc.Type
}

// ratio reads "25", "25/1" or "30000/1001".
func ratio(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	a, _ := strconv.ParseFloat(n, 64)
	if !ok {
		return a
	}
	b, _ := strconv.ParseFloat(d, 64)
	if b == 0 {
		return 0
	}
	return a / b
}

// joinMedia concatenates a rendition's init and media segments into one
// file ffprobe can read.
func joinMedia(t *testing.T, dir string, r rendition) string {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "media-*")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	names := []string{}
	if r.init != "" {
		names = append(names, r.init)
	}
	for _, s := range r.segments {
		names = append(names, s.name)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("rendition %s: segment listed but not published: %v", r.name, err)
		}
		if _, err := out.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return out.Name()
}

type probed struct {
	codec          string
	width, height  int
	rate           float64
	packets        []packet
	first, last    float64 // pts range
	bytes          int64
	sampleRate     int
	keyframesAt    []float64 // relative to first pts
	durationApprox float64
}

type packet struct {
	pts  float64
	size int64
	key  bool
}

// probe reads one stream of file with ffprobe.
func probe(t *testing.T, file, stream string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream,
		"-show_entries", "stream=codec_name,width,height,r_frame_rate,sample_rate:packet=pts_time,size,flags",
		"-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", stream, err)
	}
	var doc struct {
		Streams []struct {
			Codec      string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			Rate       string `json:"r_frame_rate"`
			SampleRate string `json:"sample_rate"`
		} `json:"streams"`
		Packets []struct {
			Pts   string `json:"pts_time"`
			Size  string `json:"size"`
			Flags string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	if len(doc.Streams) == 0 || len(doc.Packets) == 0 {
		t.Fatalf("ffprobe finds no %s stream with packets in %s", stream, file)
	}
	s := doc.Streams[0]
	p := probed{codec: s.Codec, width: s.Width, height: s.Height, rate: ratio(s.Rate)}
	p.sampleRate, _ = strconv.Atoi(s.SampleRate)
	for _, k := range doc.Packets {
		pts, err := strconv.ParseFloat(k.Pts, 64)
		if err != nil {
			continue
		}
		size, _ := strconv.ParseInt(k.Size, 10, 64)
		p.packets = append(p.packets, packet{pts: pts, size: size, key: strings.HasPrefix(k.Flags, "K")})
		p.bytes += size
	}
	sort.Slice(p.packets, func(i, j int) bool { return p.packets[i].pts < p.packets[j].pts })
	p.first, p.last = p.packets[0].pts, p.packets[len(p.packets)-1].pts
	for _, k := range p.packets {
		if k.key {
			p.keyframesAt = append(p.keyframesAt, k.pts-p.first)
		}
	}
	return p
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
