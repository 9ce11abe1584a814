package llhls

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type published struct {
	mu       sync.Mutex
	versions map[string][]string
}

func (p *published) publish(name string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.versions[name] = append(p.versions[name], string(body))
}

func (p *published) last(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.versions[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// upload passes a file to u in pieces, as the relay does while forwarding.
func upload(t *testing.T, u Upload, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u.AtOrigin()
	for rest := b; len(rest) > 0; {
		k := min(len(rest), 4096)
		_, _ = u.Write(rest[:k])
		rest = rest[k:]
	}
	u.Close(true)
	return int64(len(b))
}

var partRE = regexp.MustCompile(`#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"`)

// Every chunk of ffmpeg's segments becomes a part as it arrives; the
// parts tile each segment; dates follow media time.
func TestPackagerPublishesEveryChunk(t *testing.T) {
	dir := chunkedCMAF(t)
	pub := &published{versions: map[string][]string{}}
	clock := t0
	p := NewPackager(Config{TargetDuration: 1, PartTarget: 0.54, Window: 6, FirstMSN: 500,
		Publish: pub.publish, Now: func() time.Time { return clock }})
	const pl = "media_0.m3u8"
	upload(t, p.Init(pl, "init-0.mp4"), filepath.Join(dir, "init-0.mp4"))
	sizes := map[string]int64{}
	for n := 1; n <= 3; n++ {
		name := fmt.Sprintf("chunk-0-%05d.m4s", n)
		sizes[name] = upload(t, p.Segment(pl, "g1p0", "init-0.mp4", name), filepath.Join(dir, name))
		clock = clock.Add(time.Second)
	}
	// Per segment: the hint, two parts, the completion; but nothing
	// before the first part.
	if n := len(pub.versions[pl]); n != 3*4-1 {
		t.Errorf("%d versions published, want 11", n)
	}
	got := pub.last(pl)
	covered := map[string]int64{}
	for _, m := range partRE.FindAllStringSubmatch(got, -1) {
		var length, off int64
		fmt.Sscan(m[3], &length)
		fmt.Sscan(m[4], &off)
		if off != covered[m[2]] {
			t.Errorf("part of %s at %d, want %d", m[2], off, covered[m[2]])
		}
		covered[m[2]] += length
	}
	for name, size := range sizes {
		if covered[name] != size {
			t.Errorf("%s: parts cover %d of %d bytes:\n%s", name, covered[name], size, got)
		}
	}
	for _, want := range []string{"#EXT-X-MEDIA-SEQUENCE:500\n", `#EXT-X-MAP:URI="init-0.mp4"`,
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-24T09:59:59.480Z\n", // the first chunk (0.52 s) arrived at t0
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-24T10:00:00.480Z\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	// A second rendition: each playlist now reports where the other ends.
	upload(t, p.Init("media_1.m3u8", "init-1.mp4"), filepath.Join(dir, "init-1.mp4"))
	upload(t, p.Segment("media_1.m3u8", "g1p0", "init-1.mp4", "chunk-1-00001.m4s"), filepath.Join(dir, "chunk-1-00001.m4s"))
	if got := pub.last("media_1.m3u8"); !strings.Contains(got, `#EXT-X-RENDITION-REPORT:URI="media_0.m3u8",LAST-MSN=502,LAST-PART=1`) {
		t.Errorf("no report of media_0:\n%s", got)
	}
	p.End(pl)
	if got := pub.last(pl); !strings.HasSuffix(got, "#EXT-X-ENDLIST\n") {
		t.Errorf("not ended:\n%s", got)
	}
}

// With producer reference time, dates are the encoder's wall clock, not
// the time chunks arrive (the clock here is days away from both).
func TestPackagerDatesFollowProducerReferenceTime(t *testing.T) {
	before := time.Now().Add(-time.Second) // prft is rounded to ms; ffmpeg runs faster than real time
	dir := chunkedCMAF(t, "-write_prft", "1", "-utc_timing_url", "http://127.0.0.1/time")
	after := time.Now()
	pub := &published{versions: map[string][]string{}}
	p := NewPackager(Config{TargetDuration: 1, PartTarget: 0.54, Window: 6, FirstMSN: 500,
		Publish: pub.publish, Now: func() time.Time { return t0 }})
	const pl = "media_0.m3u8"
	upload(t, p.Init(pl, "init-0.mp4"), filepath.Join(dir, "init-0.mp4"))
	for n := 1; n <= 2; n++ {
		name := fmt.Sprintf("chunk-0-%05d.m4s", n)
		upload(t, p.Segment(pl, "g1p0", "init-0.mp4", name), filepath.Join(dir, name))
	}
	dates := regexp.MustCompile(`#EXT-X-PROGRAM-DATE-TIME:(\S+)`).FindAllStringSubmatch(pub.last(pl), -1)
	if len(dates) != 2 {
		t.Fatalf("%d dates, want 2:\n%s", len(dates), pub.last(pl))
	}
	for i, m := range dates {
		d, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatal(err)
		}
		// Segment i starts i s into the media, dated from the first chunk's
		// prft: when ffmpeg wrote it, between before and after.
		if zero := d.Add(-time.Duration(i) * time.Second); zero.Before(before) || zero.After(after) {
			t.Errorf("segment %d dated %v, not by ffmpeg's clock (%v to %v, plus %d s)", i, d, before, after, i)
		}
	}
}

// A prft whose media time is not the chunk's (as under load) is not
// believed: the run is anchored by the chunk's arrival.
func TestPartDateIgnoresAPrftOutsideItsChunk(t *testing.T) {
	p := NewPackager(Config{Publish: func(string, []byte) {}, Now: func() time.Time { return t0 }})
	bogus := Chunk{DecodeTime: 90000, Duration: 45000, Produced: t0.Add(-time.Hour), ProducedAt: 1 << 63}
	if got, want := p.partDate("g1p0", 1, 1.5, bogus, 90000), t0.Add(-500*time.Millisecond); !got.Equal(want) {
		t.Errorf("dated %v, want %v (arrival minus end, plus start)", got, want)
	}
	good := Chunk{DecodeTime: 135000, Duration: 45000, Produced: t0.Add(-time.Hour), ProducedAt: 135000}
	if got, want := p.partDate("g1p1", 1.5, 2, good, 90000), t0.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("dated %v, want %v (the prft's wall clock)", got, want)
	}
}

// A run's first dated part fixes its dates, for every rendition: chunks
// that map media time earlier later on (the burst after the input probe,
// a publisher's return after an input loss) would date what follows over
// what is listed already, and one rendition's segments against another's.
func TestTheRunsFirstPartFixesItsDates(t *testing.T) {
	p := NewPackager(Config{Publish: func(string, []byte) {}, Now: func() time.Time { return t0 }})
	produced := func(media float64, wall time.Time) Chunk {
		return Chunk{DecodeTime: uint64(media * 90000), Duration: 45000, Produced: wall, ProducedAt: uint64(media * 90000)}
	}
	p.partDate("g1p0", 0, 0.5, produced(0, t0), 90000)
	for _, media := range []float64{1, 10} {
		if got, want := p.partDate("g1p0", media, media+0.5, produced(media, t0.Add(seconds2duration(media-0.1))), 90000), t0.Add(seconds2duration(media)); !got.Equal(want) {
			t.Errorf("media time %v s, produced 0.1 s earlier than the first part says: dated %v, want %v", media, got, want)
		}
	}
	if got, want := p.partDate("g1p1", 0, 0.5, produced(0, t0.Add(time.Minute)), 90000), t0.Add(time.Minute); !got.Equal(want) {
		t.Errorf("a new run: dated %v, want %v (its own first part)", got, want)
	}
}

// Chunks that arrive before their initialisation segment is read cannot
// be timed: the segment is left out rather than listed wrong.
func TestPackagerNeedsTheInitSegment(t *testing.T) {
	dir := chunkedCMAF(t)
	pub := &published{versions: map[string][]string{}}
	p := NewPackager(Config{TargetDuration: 1, PartTarget: 0.54, Window: 6, Publish: pub.publish})
	upload(t, p.Segment("m.m3u8", "g1p0", "init-0.mp4", "chunk-0-00001.m4s"), filepath.Join(dir, "chunk-0-00001.m4s"))
	upload(t, p.Init("m.m3u8", "init-0.mp4"), filepath.Join(dir, "init-0.mp4"))
	upload(t, p.Segment("m.m3u8", "g1p0", "init-0.mp4", "chunk-0-00002.m4s"), filepath.Join(dir, "chunk-0-00002.m4s"))
	got := pub.last("m.m3u8")
	if strings.Contains(got, "chunk-0-00001") || !strings.Contains(got, "chunk-0-00002.m4s\n") {
		t.Errorf("got\n%s", got)
	}
}

// The end of a run holds for that run's segments, whatever order their
// requests arrive in; the next run's first segment reopens the playlist.
func TestPackagerEndHoldsForTheRun(t *testing.T) {
	dir := chunkedCMAF(t)
	pub := &published{versions: map[string][]string{}}
	p := NewPackager(Config{TargetDuration: 1, PartTarget: 0.54, Window: 6, Publish: pub.publish})
	const pl = "media_0.m3u8"
	upload(t, p.Init(pl, "init-0.mp4"), filepath.Join(dir, "init-0.mp4"))
	upload(t, p.Segment(pl, "g1p0", "init-0.mp4", "chunk-0-00001.m4s"), filepath.Join(dir, "chunk-0-00001.m4s"))
	p.End(pl)
	upload(t, p.Segment(pl, "g1p0", "init-0.mp4", "chunk-0-00002.m4s"), filepath.Join(dir, "chunk-0-00002.m4s"))
	if got := pub.last(pl); !strings.HasSuffix(got, "chunk-0-00002.m4s\n#EXT-X-ENDLIST\n") {
		t.Errorf("the run's late last segment reopened the playlist:\n%s", got)
	}
	upload(t, p.Init(pl, "init-0b.mp4"), filepath.Join(dir, "init-0.mp4"))
	upload(t, p.Segment(pl, "g1p1", "init-0b.mp4", "chunk-0-00003.m4s"), filepath.Join(dir, "chunk-0-00003.m4s"))
	got := pub.last(pl)
	if strings.Contains(got, "ENDLIST") || !strings.Contains(got, "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("a new run did not continue the playlist:\n%s", got)
	}
}
