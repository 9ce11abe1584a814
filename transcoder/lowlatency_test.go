package transcoder

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
)

// TestLowLatencyReconnect runs a low-latency DASH job through a publisher
// that leaves and comes back within the reconnect window: players keep the
// one MPD, with the same availabilityStartTime, the same init segments and
// segment numbers that go on, while the slate fills the gap.
func TestLowLatencyReconnect(t *testing.T) {
	t.Parallel()
	spec := mustValid(withWindow(jobspec.Spec{Output: jobspec.Output{
		Stream_type: "dash", Segment_format: "fmp4", Segment_duration: 1, Low_latency_mode: true,
		Video_outputs: []jobspec.VideoOutput{
			{Label: "low", Codec: "h264", Framerate: 25, Width: 320, Height: 180, Bitrate: "250k", Preset: "veryfast", Threads: 1, Gop_size: 1},
			{Label: "mid", Codec: "h264", Framerate: 25, Width: 480, Height: 270, Bitrate: "400k", Preset: "veryfast", Threads: 1, Gop_size: 1},
		},
		Audio_outputs: []jobspec.AudioOutput{{Label: "audio96k", Codec: "aac", Bitrate: "96k"}},
	}}, 60))
	j := startJob(t, "lowlatency", spec)
	j.origin.keepAll.Store(true)
	publish(t, j.ingestURL(), 4, "640x360")
	j.waitInput(t, true)
	first := liveMPD(t, j, "init-g1p0-")
	time.Sleep(2 * time.Second)
	publish(t, j.ingestURL(), 4, "640x360")
	j.waitInput(t, true)
	second := liveMPD(t, j, "init-g1p0-")
	j.stop(t)

	if a, b := availabilityStart.FindString(first), availabilityStart.FindString(second); a == "" || a != b {
		t.Errorf("availabilityStartTime changed across the reconnect: %s, then %s", a, b)
	}
	if n := strings.Count(second, "<Period"); n != 1 {
		t.Errorf("the MPD has %d Periods after the reconnect, want 1", n)
	}
	oneRun(t, j, "chunk-g1p0-0-", 8)
	if _, denied, over := j.origin.snapshot(); denied > 0 || len(over) > 0 {
		t.Errorf("origin denied %d writes; overwritten: %v", denied, over)
	}
}

var availabilityStart = regexp.MustCompile(`availabilityStartTime="[^"]+"`)

// liveMPD reads the job's MPD and checks it is the live low-latency MPD of
// the run whose init segments are named init*.
func liveMPD(t *testing.T, j *job, init string) string {
	t.Helper()
	b, err := os.ReadFile(j.origin.Path(j.id, jobspec.DASHMaster))
	if err != nil {
		t.Fatal(err)
	}
	mpd := string(b)
	clock := strings.TrimSuffix(j.origin.srv.URL, "/") + origin.TimePath
	for _, want := range []string{
		`type="dynamic"`, `minimumUpdatePeriod="PT1.0S"`, `availabilityTimeOffset="0.500"`,
		`<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="` + clock + `"/>`,
		`<ProducerReferenceTime`, `initialization="` + init,
	} {
		if !strings.Contains(mpd, want) {
			t.Errorf("live MPD lacks %s:\n%s", want, mpd)
		}
	}
	if strings.Contains(mpd, "<SegmentTimeline>") {
		t.Errorf("low-latency MPD has a SegmentTimeline:\n%s", mpd)
	}
	resp, err := http.Get(clock)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	now, _ := io.ReadAll(resp.Body)
	if _, err := time.Parse(time.RFC3339Nano, string(now)); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d %q", clock, resp.StatusCode, now)
	}
	return mpd
}
