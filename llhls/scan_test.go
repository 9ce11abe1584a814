package llhls

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chunkedCMAF has ffmpeg's dash muxer write 3 s of video and audio as
// 1 s segments of 0.5 s chunks, as a low-latency job's transcoder does,
// and returns the folder. extra are more dash muxer options.
func chunkedCMAF(t *testing.T, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not installed: apt-get install ffmpeg")
	}
	dir := t.TempDir()
	argv := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
		"-t", "3", "-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", "64k",
		"-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "0",
		"-adaptation_sets", "id=0,streams=v id=1,streams=a", "-dash_segment_type", "mp4",
		"-init_seg_name", "init-$RepresentationID$.mp4", "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
		"-ldash", "1", "-streaming", "1", "-frag_type", "duration", "-frag_duration", "0.5"}
	cmd := exec.Command("ffmpeg", append(append(argv, extra...), filepath.Join(dir, "master.mpd"))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return dir
}

func readTrack(t *testing.T, dir string, rep int) Track {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("init-%d.mp4", rep)))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseInit(b)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Fed in pieces of any size, a segment splits into chunks that tile it
// exactly, start with a sync sample (video: the first only), and whose
// times follow on from one another.
func TestScannerFindsTheChunksOfFFmpegSegments(t *testing.T) {
	dir := chunkedCMAF(t)
	for rep, kind := range []string{"video", "audio"} {
		tr := readTrack(t, dir, rep)
		if tr.Video != (kind == "video") {
			t.Errorf("%s track: Video %v", kind, tr.Video)
		}
		var next uint64
		for n := 1; n <= 2; n++ {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("chunk-%d-%05d.m4s", rep, n)))
			if err != nil {
				t.Fatal(err)
			}
			s := NewScanner(tr)
			for rest := b; len(rest) > 0; {
				k := min(len(rest), 1+rand.IntN(3000))
				_, _ = s.Write(rest[:k])
				rest = rest[k:]
			}
			chunks := s.Chunks()
			if s.Err() != nil || len(chunks) != 2 {
				t.Fatalf("%s segment %d: %d chunks, err %v", kind, n, len(chunks), s.Err())
			}
			var off int64
			for i, c := range chunks {
				if c.Offset != off || c.Length <= 0 {
					t.Errorf("%s segment %d chunk %d at %d+%d, want offset %d", kind, n, i, c.Offset, c.Length, off)
				}
				off += c.Length
				if n > 1 || i > 0 {
					if c.DecodeTime != next {
						t.Errorf("%s segment %d chunk %d decodes at %d, want %d", kind, n, i, c.DecodeTime, next)
					}
				}
				next = c.DecodeTime + c.Duration
				sec := float64(c.Duration) / float64(tr.Timescale)
				if sec < 0.4 || sec > 0.55 {
					t.Errorf("%s segment %d chunk %d lasts %.3f s", kind, n, i, sec)
				}
				if perSample := float64(c.Duration) / float64(c.Samples) / float64(tr.Timescale); kind == "video" && math.Abs(perSample-0.04) > 1e-6 {
					t.Errorf("%s segment %d chunk %d: %d samples of %.4f s, want 25 fps", kind, n, i, c.Samples, perSample)
				}
				if c.FirstPresented != 0 { // no B-frames
					t.Errorf("%s segment %d chunk %d: first presented at +%d", kind, n, i, c.FirstPresented)
				}
				if want := i == 0 || kind == "audio"; c.Independent != want {
					t.Errorf("%s segment %d chunk %d independent %v, want %v", kind, n, i, c.Independent, want)
				}
			}
			if off != int64(len(b)) {
				t.Errorf("%s segment %d: chunks cover %d of %d bytes", kind, n, off, len(b))
			}
		}
	}
}

func TestScannerStopsAtABrokenBox(t *testing.T) {
	s := NewScanner(Track{Timescale: 1000})
	// A box that claims 4 bytes, shorter than its own header.
	_, _ = s.Write([]byte{0, 0, 0, 4, 'm', 'o', 'o', 'f', 1, 2, 3})
	if s.Err() == nil || len(s.Chunks()) != 0 {
		t.Errorf("err %v", s.Err())
	}
	s = NewScanner(Track{Timescale: 1000})
	// A moof that does not decode, then its mdat.
	_, _ = s.Write([]byte{0, 0, 0, 12, 'm', 'o', 'o', 'f', 0, 0, 0, 0, 0, 0, 0, 8, 'm', 'd', 'a', 't'})
	if s.Err() == nil || len(s.Chunks()) != 0 {
		t.Errorf("undecodable moof: err %v", s.Err())
	}
}

func TestParseInitRefusesMedia(t *testing.T) {
	dir := chunkedCMAF(t)
	b, err := os.ReadFile(filepath.Join(dir, "chunk-0-00001.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseInit(b); err == nil {
		t.Error("a media segment was read as an init segment")
	}
}

// With -write_prft (which needs a UTCTiming URL), as in low-latency mode,
// every chunk carries the encoder's wall clock: read while ffmpeg ran.
func TestScannerReadsProducerReferenceTime(t *testing.T) {
	before := time.Now().Add(-time.Millisecond) // prft is rounded to ms
	dir := chunkedCMAF(t, "-write_prft", "1", "-utc_timing_url", "http://127.0.0.1/time")
	after := time.Now()
	tr := readTrack(t, dir, 0)
	b, err := os.ReadFile(filepath.Join(dir, "chunk-0-00002.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewScanner(tr)
	_, _ = s.Write(b)
	chunks := s.Chunks()
	if len(chunks) != 2 {
		t.Fatalf("%d chunks, want 2: %v", len(chunks), s.Err())
	}
	for i, c := range chunks {
		if c.Produced.Before(before) || c.Produced.After(after) {
			t.Errorf("chunk %d: produced at %v, outside ffmpeg's run %v to %v", i, c.Produced, before, after)
		}
		if c.ProducedAt < c.DecodeTime || c.ProducedAt > c.DecodeTime+c.Duration {
			t.Errorf("chunk %d: prft media time %d outside the chunk's %d+%d", i, c.ProducedAt, c.DecodeTime, c.Duration)
		}
	}
}

func TestNTPTime(t *testing.T) {
	// 2026-11-24T10:00:00.5Z: seconds since 1900, and half a second.
	ntp := uint64(t0.Unix()+2208988800)<<32 | 1<<31
	if got, want := ntpTime(ntp), t0.Add(500*time.Millisecond); !got.Equal(want) {
		t.Errorf("ntpTime = %v, want %v", got, want)
	}
}
