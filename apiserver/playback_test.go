package apiserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// TestPlaybackTokens checks POST /jobs/:id/playback_tokens: a token valid
// for that job only, expiring after the asked lifetime (default an hour),
// with playback URLs under the origin's /play/<token>/<job id>/; a
// lifetime out of bounds or of the wrong type is a 400 naming Ttl.
func TestPlaybackTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateRunning)
	other := e.putJob(jobspec.StateRunning)
	path := "/jobs/" + job.Id + "/playback_tokens"
	for _, tt := range []struct {
		name string
		body string
		ttl  time.Duration
	}{
		{"no body", "", time.Hour},
		{"empty object", "{}", time.Hour},
		{"null ttl", `{"Ttl": null}`, time.Hour},
		{"shortest", `{"Ttl": 60}`, time.Minute},
		{"longest", `{"Ttl": 86400}`, 24 * time.Hour},
	} {
		before := time.Now()
		var body []byte
		if tt.body != "" {
			body = []byte(tt.body)
		}
		a := e.do("POST", path, body).want(t, http.StatusCreated)
		var got struct {
			Token         string
			Expires       time.Time
			Playback_url  string
			Playback_urls []string
		}
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		if ctx := ctxT(t); !e.signer.ValidToken(ctx, got.Token, job.Id) || e.signer.ValidToken(ctx, got.Token, other.Id) {
			t.Errorf("%s: token %q not valid for its job, or valid for another", tt.name, got.Token)
		}
		if d := got.Expires.Sub(before); d < tt.ttl || d > tt.ttl+2*time.Second {
			t.Errorf("%s: expires %s after the request, want %s", tt.name, d, tt.ttl)
		}
		want := playbackBase + "/play/" + got.Token + "/" + job.Id + "/" + strings.TrimPrefix(job.Playback_url, playbackBase+"/live/"+job.Id+"/")
		if got.Playback_url != want || len(got.Playback_urls) != len(job.Playback_urls) {
			t.Errorf("%s: playback URLs %q %v, want %q", tt.name, got.Playback_url, got.Playback_urls, want)
		}
	}
	for _, body := range []string{`{"Ttl": 59}`, `{"Ttl": 86401}`, `{"Ttl": "3600"}`, `{"Ttl": -1}`} {
		p := e.do("POST", path, []byte(body)).want(t, http.StatusBadRequest).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != "Ttl" || !strings.Contains(p.Errors[0].Message, "between 60 and 86400 seconds") {
			t.Errorf("%s: problem %+v, want it to name Ttl and its bounds", body, p)
		}
	}
	if p := e.do("POST", path, []byte(`[1]`)).want(t, http.StatusBadRequest).problem(t); p.Code != jobspec.EINVALID {
		t.Errorf("a body that is no object: %+v", p)
	}
	e.do("POST", "/jobs/not-a-job/playback_tokens", nil).want(t, http.StatusNotFound)
}

// TestSignedThumbnail: a signed job's thumbnail redirect carries a viewer
// token of the shortest lifetime; a public job's goes to its Thumbnail_url.
func TestSignedThumbnail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	signed := e.createSigned()
	loc := e.do("GET", "/jobs/"+signed.Id+"/thumbnail.jpg", nil).want(t, http.StatusTemporaryRedirect).header.Get("Location")
	tok, ok := strings.CutPrefix(loc, playbackBase+"/play/")
	tok, rest, _ := strings.Cut(tok, "/")
	if !ok || rest != signed.Id+"/thumbnail.jpg" || !e.signer.ValidToken(ctxT(t), tok, signed.Id) {
		t.Errorf("signed job's thumbnail redirects to %q, want %s/play/<its token>/%s/thumbnail.jpg", loc, playbackBase, signed.Id)
	}
	public := e.putJob(jobspec.StateRunning)
	if loc := e.do("GET", "/jobs/"+public.Id+"/thumbnail.jpg", nil).want(t, http.StatusTemporaryRedirect).header.Get("Location"); loc != public.Thumbnail_url {
		t.Errorf("public job's thumbnail redirects to %q, want %q", loc, public.Thumbnail_url)
	}
}
