package transcoder

import (
	"os/exec"
	"strconv"
	"testing"
)

// A publisher that sends no audio (a screen capture with no microphone)
// streams at once: the transcoder fills the job's audio with silence, so
// players get the audio track the job promised.
func TestPublisherWithoutAudioStreamsWithSilence(t *testing.T) {
	t.Parallel()
	spec := smallLadder("hls", "mpegts", 2, "h264")
	j := startJob(t, "noaudio", spec)
	if out, err := videoOnly(j.ingestURL(), 5).CombinedOutput(); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	j.waitRunsEnded(t, 1)
	j.stop(t)
	segments := j.origin.published("low-g1p0-")
	if len(segments) < 2 {
		t.Fatalf("the publisher without audio published %v", j.origin.published(""))
	}
	seg := j.origin.Path(j.id, segments[0])
	if a := probe(t, seg, "a:0"); a.codec != "aac" || a.sampleRate != 48000 {
		t.Fatalf("audio of %s: %+v, want AAC at 48 kHz (silence)", segments[0], a)
	}
	if v := probe(t, seg, "v:0"); v.width != 320 {
		t.Fatalf("video of %s: %+v", segments[0], v)
	}
}

func videoOnly(url string, seconds float64) *exec.Cmd {
	return exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-f", "flv", url)
}
