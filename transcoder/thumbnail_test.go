package transcoder

import (
	"testing"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// TestThumbnail: while a job streams, its latest frame reaches the origin
// as a JPEG at the first rendition's size, rewritten every few seconds.
func TestThumbnail(t *testing.T) {
	t.Parallel()
	spec := smallLadder("hls", "mpegts", 2, "h264")
	j := startJob(t, "thumbnail", spec)
	publish(t, j.ingestURL(), 7, "854x480")
	j.waitRunsEnded(t, 1)
	j.stop(t)
	puts, _, _ := j.origin.snapshot()
	written := 0
	for _, p := range puts {
		if p.name == jobspec.Thumbnail {
			written++
		}
	}
	if written < 2 {
		t.Errorf("thumbnail written %d times in 7 s of media, want one every %d s", written, 2)
	}
	// ffmpeg's progress reports the frames of its first output's video:
	// a rendition's (25 fps here), not the thumbnails' one every 2 s.
	var fps float64
	j.rep.mu.Lock()
	for _, hb := range j.rep.beats {
		fps = max(fps, hb.Stats.Fps)
	}
	j.rep.mu.Unlock()
	if fps < 5 {
		t.Errorf("heartbeats report at most %.1f fps: the thumbnail output's, not a rendition's", fps)
	}
	p := probe(t, j.origin.Path(j.id, jobspec.Thumbnail), "v:0")
	first := spec.Output.Video_outputs[0]
	if p.codec != "mjpeg" || p.width != first.Width || p.height != first.Height {
		t.Errorf("thumbnail is %s %dx%d, want a JPEG at %dx%d", p.codec, p.width, p.height, first.Width, first.Height)
	}
}
