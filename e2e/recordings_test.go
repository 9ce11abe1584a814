package e2e_test

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"time"

	"github.com/ezlivestreaming/ezlive/client"
)

// checkRecordings checks, after the job's last stop, that each of its runs
// is a recording ffprobe reads as long as what the run streamed (the
// segments it uploaded) within one segment, and that a clip of the last
// one plays.
func (s *system) checkRecordings(id string, runs int, segment float64) {
	s.t.Helper()
	ctx := context.Background()
	recs, err := s.client.Recordings(ctx, id)
	if err != nil || len(recs) != runs {
		s.t.Fatalf("recordings %+v (%v), want %d", recs, err, runs)
	}
	for _, rec := range recs {
		files := s.storedFiles(id, "chunk-"+rec.Run+"-0-*.m4s")
		streamed := float64(len(files)) * segment
		if len(rec.Playback_urls) == 0 {
			s.t.Fatalf("recording %s has no playback URL", rec.Run)
		}
		dur := ffprobeDuration(s, rec.Playback_urls[0])
		s.t.Logf("recording %s: ffprobe %.2f s, %d segments uploaded (%.0f s), %d bytes", rec.Run, dur, len(files), streamed, rec.Bytes)
		if math.Abs(dur-streamed) > segment || math.Abs(dur-rec.Duration) > segment || rec.Bytes == 0 {
			s.t.Errorf("recording %s: ffprobe says %.2f s, its info %.2f s; the run uploaded %d segments of %g s", rec.Run, dur, rec.Duration, len(files), segment)
		}
	}
	clip, err := s.client.Clip(ctx, id, client.ClipRequest{Start: 2 * segment, End: 0})
	if err != nil {
		s.t.Fatal(err)
	}
	if dur := ffprobeDuration(s, clip.Playback_urls[0]); dur < segment || dur > 4*segment {
		s.t.Errorf("clip of the last %g s: ffprobe says %.2f s", 2*segment, dur)
	}
}

func ffprobeDuration(s *system, url string) float64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", url).Output()
	var info struct{ Format struct{ Duration string } }
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	d, perr := strconv.ParseFloat(info.Format.Duration, 64)
	if err != nil || perr != nil {
		s.t.Fatalf("ffprobe %s: %v %v\n%s", url, err, perr, out)
	}
	return d
}
