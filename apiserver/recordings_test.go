package apiserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
)

func conformRecordings(t *testing.T, c *contract) {
	e := newEnv(t)
	job := e.putJob(jobspec.StateRunning)
	job, err := e.store.UpdateJob(ctxT(t), job.Id, func(j *jobspec.LiveJob) error { j.Placement_generation = 2; return nil })
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for _, info := range []recording.Info{
		{Run: "g1p0", Started: t0, Updated: t0.Add(time.Minute), Duration: 60, Bytes: 1 << 20, HLS: true, DASH: true,
			Program_start: t0, Program_end: t0.Add(time.Minute)},
		{Run: "g2p0", Started: t0.Add(time.Hour), Updated: t0.Add(time.Hour + time.Minute), Duration: 60, Bytes: 1 << 20, DASH: true},
	} {
		if err := e.store.SaveRecording(ctxT(t), job.Id, info); err != nil {
			t.Fatal(err)
		}
	}
	id := "/jobs/" + job.Id
	var list struct {
		Recordings []struct {
			Run            string
			Playback_urls  []string
			Storyboard_url string
		}
	}
	if err := json.Unmarshal(c.call(t, e, http.StatusOK, "GET", id+"/recordings", nil).body, &list); err != nil ||
		len(list.Recordings) != 2 || list.Recordings[0].Run != "g1p0" ||
		strings.Join(list.Recordings[0].Playback_urls, " ") != playbackBase+"/live/"+job.Id+"/recordings/g1p0/master.m3u8 "+playbackBase+"/live/"+job.Id+"/recordings/g1p0/master.mpd" ||
		list.Recordings[0].Storyboard_url != playbackBase+"/live/"+job.Id+"/recordings/g1p0/storyboard.vtt" {
		t.Errorf("recordings: %+v (%v)", list, err)
	}
	missing := "/jobs/" + uuid.NewString()
	c.call(t, e, http.StatusNotFound, "GET", missing+"/recordings", nil)

	// The last 30 s of the newest recording (g2p0, DASH only: by the times it was stored).
	var clip struct {
		Recording     string
		Start, End    time.Time
		Playback_urls []string
	}
	a := c.call(t, e, http.StatusCreated, "POST", id+"/clips", []byte(`{"Start": 30, "End": 0}`))
	want := recording.ClipName(t0.Add(time.Hour+30*time.Second), t0.Add(time.Hour+time.Minute))
	if err := json.Unmarshal(a.body, &clip); err != nil || clip.Recording != "g2p0" || len(clip.Playback_urls) != 1 ||
		!strings.HasSuffix(clip.Playback_urls[0], "/recordings/g2p0/clips/"+want+"/master.mpd") {
		t.Errorf("clip of the last 30 s: %s (%v), want the span %s", a.body, err, want)
	}
	a = c.call(t, e, http.StatusCreated, "POST", id+"/clips", []byte(`{"Recording": "g1p0", "Start": "2026-12-02T06:00:10Z", "End": "2026-12-02T06:00:40.5Z"}`))
	if err := json.Unmarshal(a.body, &clip); err != nil || len(clip.Playback_urls) != 2 || !clip.End.Equal(t0.Add(40500*time.Millisecond)) {
		t.Errorf("clip of g1p0: %s (%v)", a.body, err)
	}
	wantFields(t, c.call(t, e, http.StatusBadRequest, "POST", id+"/clips", []byte(`{"Start": "yesterday", "End": -1, "Recording": "g7p7"}`)), "Start", "End", "Recording")
	wantFields(t, c.call(t, e, http.StatusBadRequest, "POST", id+"/clips", []byte(`{"Start": 10, "End": 20}`)), "End")
	wantFields(t, c.call(t, e, http.StatusBadRequest, "POST", id+"/clips", []byte(`{"Recording": "g1p0", "Start": "2026-12-02T07:00:00Z", "End": "2026-12-02T07:00:10Z"}`)), "Start")
	c.call(t, e, http.StatusBadRequest, "POST", id+"/clips", []byte(`[1]`))
	c.call(t, e, http.StatusNotFound, "POST", missing+"/clips", []byte(`{"Start": 30, "End": 0}`))

	// The run a running job is writing cannot be deleted; an earlier one can, once.
	c.call(t, e, http.StatusConflict, "DELETE", id+"/recordings/g2p0", nil)
	c.call(t, e, http.StatusNoContent, "DELETE", id+"/recordings/g1p0", nil)
	c.call(t, e, http.StatusNotFound, "DELETE", id+"/recordings/g1p0", nil)
	if err := json.Unmarshal(c.call(t, e, http.StatusOK, "GET", id+"/recordings", nil).body, &list); err != nil || len(list.Recordings) != 1 {
		t.Errorf("after deleting g1p0: %+v", list)
	}
}

// TestSignedRecordingURLs: a signed job's recordings and clips are at
// play/<viewer token>/<id>/, as its live outputs are; the origin serves
// nothing of it under live/.
func TestSignedRecordingURLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	signed := e.createSigned()
	t0 := time.Now().Add(-time.Minute).UTC()
	info := recording.Info{Run: "g1p0", Started: t0, Updated: t0.Add(time.Minute), Duration: 60, HLS: true, Program_start: t0, Program_end: t0.Add(time.Minute)}
	if err := e.store.SaveRecording(ctxT(t), signed.Id, info); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Recordings []struct{ Playback_urls []string }
	}
	if err := json.Unmarshal(e.do("GET", "/jobs/"+signed.Id+"/recordings", nil).want(t, http.StatusOK).body, &list); err != nil || len(list.Recordings) != 1 {
		t.Fatalf("recordings: %+v (%v)", list, err)
	}
	var clip struct{ Playback_urls []string }
	if err := json.Unmarshal(e.do("POST", "/jobs/"+signed.Id+"/clips", []byte(`{"Start": 30, "End": 0}`)).want(t, http.StatusCreated).body, &clip); err != nil {
		t.Fatal(err)
	}
	for _, u := range append(list.Recordings[0].Playback_urls, clip.Playback_urls...) {
		tok, ok := strings.CutPrefix(u, playbackBase+"/play/")
		tok, rest, _ := strings.Cut(tok, "/")
		if !ok || !strings.HasPrefix(rest, signed.Id+"/recordings/g1p0/") || !e.signer.ValidToken(ctxT(t), tok, signed.Id) {
			t.Errorf("signed job's recording URL %q, want %s/play/<its token>/%s/recordings/g1p0/…", u, playbackBase, signed.Id)
		}
	}
}
