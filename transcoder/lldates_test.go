package transcoder

import (
	"math"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/recording"
)

// An LL-HLS job keeps one program date-time per media time through a
// publisher's absence and return: a segment's date never changes once
// listed, each segment starts where the one before it ends (within 2 ms),
// and the audio and video playlists date a segment alike. Players that place segments by EXT-X-PROGRAM-DATE-TIME, as Shaka
// does, need all three: dates a second early after the publisher's return
// left Shaka on the slate (its TypeError on 'next').
func TestLowLatencyHLSDatesThroughALoss(t *testing.T) {
	t.Parallel()
	j := startJob(t, "lldates", lowLatencyHLSSpec())
	base := j.origin.URL(j.id)
	playlists := []string{base + ffmpeg.HLSMediaPlaylist(0), base + ffmpeg.HLSMediaPlaylist(1)}
	seen := map[string]map[string]datedSegment{} // playlist → segment URI → as first listed
	var mu sync.Mutex
	var moved []string
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			for _, pl := range playlists {
				b, err := fetch(pl, "")
				if err != nil {
					continue
				}
				mu.Lock()
				if seen[pl] == nil {
					seen[pl] = map[string]datedSegment{}
				}
				for _, s := range datedSegments(b) {
					if was, ok := seen[pl][s.uri]; !ok {
						seen[pl][s.uri] = s
					} else if !was.date.Equal(s.date) {
						moved = append(moved, s.uri+": "+was.date.Format(time.RFC3339Nano)+" → "+s.date.Format(time.RFC3339Nano))
					}
				}
				mu.Unlock()
			}
		}
	}()
	publish(t, j.ingestURL(), 6, "320x180")
	j.waitInput(t, true)
	time.Sleep(4 * time.Second)
	publish(t, j.ingestURL(), 6, "320x180")
	j.waitInput(t, true)
	close(done)
	<-polled
	j.stop(t)

	mu.Lock()
	defer mu.Unlock()
	if len(moved) > 0 {
		t.Errorf("segments whose date changed once listed: %v", moved)
	}
	byNumber := map[string]map[int64]datedSegment{}
	for pl, segs := range seen {
		byNumber[pl] = map[int64]datedSegment{}
		for _, s := range segs {
			byNumber[pl][s.number] = s
		}
		for n, s := range byNumber[pl] {
			if next, ok := byNumber[pl][n+1]; ok {
				if gap := next.date.Sub(s.date.Add(time.Duration(s.duration * float64(time.Second)))); gap.Abs() > 2*time.Millisecond {
					t.Errorf("%s: segment %d starts %v after the end of %d", pl, n+1, gap, n)
				}
			}
		}
	}
	video, audio := byNumber[playlists[0]], byNumber[playlists[1]]
	if len(video) < 10 {
		t.Fatalf("%d video segments listed", len(video))
	}
	for n, v := range video {
		if a, ok := audio[n]; ok && math.Abs(a.date.Sub(v.date).Seconds()) > 0.05 {
			t.Errorf("segment %d: video dated %v, audio %v", n, v.date.Format(time.RFC3339Nano), a.date.Format(time.RFC3339Nano))
		}
	}
}

type datedSegment struct {
	uri      string
	number   int64
	date     time.Time
	duration float64
}

var segmentNumber = regexp.MustCompile(`-(\d+)\.m4s$`)

// datedSegments reads each complete segment of an LL-HLS media playlist
// (recording.ParseHLS) with its EXT-X-PROGRAM-DATE-TIME and its number
// (the dash muxer numbers every rendition alike).
func datedSegments(b []byte) []datedSegment {
	p, err := recording.ParseHLS(b, "")
	if err != nil {
		return nil
	}
	var out []datedSegment
	for _, s := range p.Segments {
		if m := segmentNumber.FindStringSubmatch(s.URI); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, datedSegment{uri: s.URI, number: n, date: s.Time, duration: s.Duration})
		}
	}
	return out
}
